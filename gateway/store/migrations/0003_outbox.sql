-- Schema 3: the persistent outbox for MQTT sync (gateway/sync owns the code that uses it).
-- Rows are written in the same transaction as the ledger row that causes them.
CREATE TABLE outbox (
  id TEXT PRIMARY KEY,            -- uuid4 hex
  stream TEXT NOT NULL,           -- sales, refunds, replacements, accounts, cards, alarms, relay, operations
  seq INTEGER NOT NULL,           -- per-stream, 1-based, contiguous
  created_at TEXT NOT NULL,       -- ISO 8601 UTC
  payload TEXT NOT NULL,          -- JSON object
  UNIQUE(stream, seq)
);
CREATE TABLE outbox_ack (stream TEXT PRIMARY KEY, acked_seq INTEGER NOT NULL DEFAULT 0);
