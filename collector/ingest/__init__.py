"""From OTLP bytes on the wire to rows in the store: decoding, validation, normalization, the ingest pipeline."""
