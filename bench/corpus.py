"""The text the workload is made of: real customer questions and varied prompts and replies.

User content is the PolyAI Banking77 training set (Casanueva et al. 2020, CC-BY-4.0): 10,003 real
online-banking customer questions, each with one of 77 intents. System prompts and assistant replies are
assembled from the fragments below so that no two traces carry quite the same prompt, as in a real
application that templates its prompts per tenant, channel and experiment.
"""

from __future__ import annotations

import csv
import functools
import random
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BANKING77_TRAIN",
    "Question",
    "answer_text",
    "load_questions",
    "review_text",
    "system_prompt",
    "template_text",
]

BANKING77_TRAIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "banking77" / "train.csv"


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    intent: str

    @property
    def topic(self) -> str:
        return self.intent.replace("_", " ")


@functools.cache
def load_questions(path: Path = BANKING77_TRAIN) -> tuple[Question, ...]:
    """Every (question, intent) pair of the Banking77 CSV, in file order."""
    if not path.exists():
        raise SystemExit(f"Banking77 not found at {path}; the workload needs its train.csv (see bench/README.md)")
    with path.open(newline="", encoding="utf-8") as f:
        return tuple(Question(row["text"].strip(), row["category"]) for row in csv.DictReader(f))


_PERSONAS = (
    "You are Nova, the customer support assistant of Northwind Bank's mobile app.",
    "You are a careful, friendly support agent for a European challenger bank.",
    "You are the virtual assistant of Harbor Credit Union. You speak plainly and never guess.",
    "You are an experienced banking operations specialist answering customers in the in-app chat.",
    "You are Penny, a concise assistant that resolves card, transfer and account questions.",
    "You are a tier-1 support agent. Escalate anything you cannot resolve with the tools you have.",
)

_POLICIES = (
    "Never ask the customer for their full card number, PIN, CVV or one-time passcodes. If they share "
    "one, tell them to delete the message and explain that the bank will never ask for it.",
    "Card deliveries take up to 5 business days within the country and up to 15 business days abroad. If "
    "a card has not arrived after that, offer to cancel it and order a replacement free of charge.",
    "Exchange rates are set by the card network at the moment the payment settles, not when it is "
    "authorised. Weekend payments carry a small markup that is shown in the app before confirming.",
    "Pending transactions usually settle within 1 to 3 business days. A merchant may cancel an "
    "authorisation, in which case the money returns to the available balance without any action from the "
    "customer.",
    "Top-ups by card are instant; bank transfers can take up to one business day. Top-ups from cards "
    "issued outside the EEA may incur a fee that is displayed before the customer confirms.",
    "If a customer reports a lost or stolen card, freeze the card first using the freeze_card tool, then "
    "explain how to order a replacement. Do not unfreeze a card on behalf of the customer.",
    "Identity verification requires a valid passport, national ID card or driving licence and a selfie. "
    "Most checks finish within minutes; some need a manual review that takes up to 48 hours.",
    "Refunds are issued by the merchant. The bank can only raise a chargeback after the customer has "
    "contacted the merchant and waited at least 15 days without a resolution.",
    "Transfers to other banks use SEPA Instant where possible. If a transfer is stuck, check its status "
    "with the get_transfer_status tool before giving any estimate.",
    "Customers can have up to three virtual cards. Disposable virtual cards are regenerated after every "
    "payment and cannot be used for recurring subscriptions.",
    "Do not give financial, tax or legal advice. Point the customer to the Help Centre article or a human"
    " advisor when a question goes beyond how the product works.",
    "ATM withdrawals are free up to 200 EUR a month; beyond that a 2% fee applies. Some ATM operators "
    "charge their own fee, which the bank cannot refund.",
    "Account closure is permanent. Before closing, the customer must withdraw the remaining balance and "
    "cancel scheduled payments; card payments still pending will be declined.",
    "Contactless payments are limited to 50 EUR per payment; after five consecutive contactless payments "
    "the card asks for the PIN once to reset the counter.",
)

_FORMATS = (
    "Answer in at most four short sentences. Use the customer's language. Do not use Markdown headings.",
    "Reply in plain text. Start with a direct answer, then give the next step the customer should take.",
    "Be warm but brief. If you used a tool, summarise its result instead of quoting it.",
    "Format the reply as one short paragraph followed by a numbered list of steps when steps are needed.",
    "Keep the reply under 120 words. Never promise a date you have not read from a tool result.",
)

_CLASSIFY = (
    "Classify the customer's message into exactly one of the 77 Banking77 intents. Reply with the intent "
    "label only, in snake_case, with no explanation. If the message is ambiguous, choose the most "
    "specific intent.",
    "You route customer messages to the right support queue. Output one intent label from the catalogue "
    "(for example card_arrival, exchange_rate, lost_or_stolen_card) and nothing else.",
)

_REVIEW = (
    "You review a draft reply written by a support assistant. Check that it answers the question, follows"
    " the policy, contains no invented dates or fees and asks for no secrets. Reply APPROVED or REVISE: "
    "<reason>.",
    "Act as a compliance reviewer. Flag any reply that gives financial advice, asks for card details or "
    "promises a refund. Answer with APPROVED, or REVISE followed by one sentence explaining why.",
)

_OPENERS = (
    "Thanks for getting in touch about {topic}.",
    "I understand you have a question about {topic}.",
    "Sorry for the trouble with {topic}, let me help.",
    "Good question about {topic}.",
    "I can help with {topic}.",
)

_BODY = (
    "I have checked your account and I can see the request you are referring to.",
    "This usually resolves on its own within one to three business days.",
    "You can follow the status in the app under Account, then Activity.",
    "Please make sure the app is updated to the latest version before trying again.",
    "If the merchant has not refunded you within 15 days, I can open a dispute for you.",
    "For your security, please never share your PIN or one-time passcode with anyone, including us.",
    "The fee, if any, is always shown on the confirmation screen before you approve the payment.",
    "I have frozen the card as a precaution; you can order a replacement from the Cards tab.",
    "Transfers made before 4 pm on a business day normally arrive the same day.",
    "The exchange rate applied is the one of the card network at the time the payment settled.",
    "Your identity check is in manual review and usually completes within 48 hours.",
    "You can set a monthly spending limit and turn off contactless payments in the card settings.",
    "A new card is free of charge and is usually delivered within five business days.",
    "Pending payments are authorisations; the final amount can differ slightly once it settles.",
    "If you do not recognise the payment, freeze your card and tell us so we can investigate.",
    "I have passed this on to our payments team, who will get back to you by email.",
)

_CLOSERS = (
    "Is there anything else I can help you with today?",
    "Let me know if that answers your question.",
    "I'm here if you need anything else.",
    "Have a great day!",
)

_REVIEW_REPLIES = (
    "APPROVED",
    "APPROVED: the reply follows the card delivery policy.",
    "REVISE: the draft promises a delivery date that no tool returned.",
    "REVISE: the reply should remind the customer never to share their PIN.",
    "APPROVED: no secrets requested, next step is clear.",
)


def system_prompt(rng: random.Random, role: str) -> str:
    if role == "classify":
        return rng.choice(_CLASSIFY) + " " + " ".join(rng.sample(_POLICIES, 2))
    if role == "review":
        return rng.choice(_REVIEW) + "\n\nPolicy:\n" + "\n".join(rng.sample(_POLICIES, rng.randint(2, 4)))
    policies = rng.sample(_POLICIES, rng.randint(3, 6))
    return "\n\n".join((rng.choice(_PERSONAS), "Policy:\n- " + "\n- ".join(policies), rng.choice(_FORMATS)))


def answer_text(rng: random.Random, question: Question) -> str:
    body = rng.sample(_BODY, rng.randint(3, 6))
    return " ".join((rng.choice(_OPENERS).format(topic=question.topic), *body, rng.choice(_CLOSERS)))


def review_text(rng: random.Random) -> str:
    return rng.choice(_REVIEW_REPLIES)


def template_text() -> str:
    return "\n".join(
        (
            *_PERSONAS,
            *_POLICIES,
            *_FORMATS,
            *_CLASSIFY,
            *_REVIEW,
            *_OPENERS,
            *_BODY,
            *_CLOSERS,
            *_REVIEW_REPLIES,
        )
    ).lower()


def search_words(fraction: float = 0.01) -> tuple[str, str]:
    """A word in about ``fraction`` of questions and a word in exactly one, absent from all fixed text.

    A question is repeated in its trace's root span and every LLM span, so the share of *spans* that
    contain the first word is close to ``fraction`` (tool spans and the odd earlier turn move it a little).
    Matching is by substring, as a ``LIKE '%word%'`` search would, and words inside intent names are
    excluded because intents appear in classifier outputs and reply openers.
    """
    questions = [q.text.lower() for q in load_questions()]
    excluded = template_text() + " " + " ".join(q.intent.replace("_", " ") for q in load_questions())
    words = sorted({w for q in questions for w in _words(q) if len(w) >= 6 and w not in excluded})
    counts = {w: sum(w in q for q in questions) for w in words}
    target = fraction * len(questions)
    common = min(words, key=lambda w: (abs(counts[w] - target), w))
    rare = min((w for w in words if counts[w] == 1), key=lambda w: (-len(w), w))
    return common, rare


def _words(text: str) -> list[str]:
    return ["".join(c for c in token if c.isalpha()) for token in text.split()]
