-- Schema 4: meter readings and their rollups, per-meter monitoring, alarms and exceptions,
-- the gateway-wallet metering baseline, and the daily clock-sync record (gateway/reading).
--
-- Readings are the one high-volume table (2,000 meters every 15 minutes = 192,000 rows a day):
-- one row per meter per read cycle, integer columns only (NULL = not read in that cycle),
-- WITHOUT ROWID keyed by (meter_id, at) so the key is the only index, and `at` in Unix seconds
-- (UTC) instead of the 27-character text the low-volume tables use. No foreign key on purpose:
-- a check per insert buys nothing here, and a meter's history outlives the meter record.
-- Raw rows are pruned after the retention period; the daily and monthly rollups stay for years.
--
-- Nothing here is money. A gateway-wallet debit is a ledger row; wallet_state only holds the
-- metering baseline and the charge not yet posted to the ledger (written in the same
-- transaction as the reading that caused it).

CREATE TABLE readings (
  meter_id INTEGER NOT NULL,
  at INTEGER NOT NULL,              -- Unix seconds, UTC
  energy_cwh INTEGER,               -- forward active total, 0.01 kWh
  t1_cwh INTEGER,                   -- forward active per tariff (when the block was read)
  t2_cwh INTEGER,
  t3_cwh INTEGER,
  t4_cwh INTEGER,
  reverse_cwh INTEGER,              -- reverse active total
  remaining INTEGER,                -- meter wallet: fen (money type) or 0.01 kWh (energy type)
  overdraft INTEGER,
  status3 INTEGER,                  -- status word 3 (relay, keep-power, alarm bits)
  tamper INTEGER,                   -- bit mask of the tamper conditions seen (cover, terminal)
  voltage_dv INTEGER,               -- phase A, 0.1 V
  current_ma INTEGER,               -- phase A, 0.001 A (signed)
  power_dw INTEGER,                 -- total active power, 0.1 W (signed)
  drift_s INTEGER,                  -- meter clock minus gateway clock, seconds
  PRIMARY KEY (meter_id, at)
) STRICT, WITHOUT ROWID;

-- One row per meter per site-local day / month, updated as readings arrive.
CREATE TABLE reading_days (
  meter_id INTEGER NOT NULL,
  day INTEGER NOT NULL,             -- site-local date YYYYMMDD
  reads INTEGER NOT NULL DEFAULT 0,
  failures INTEGER NOT NULL DEFAULT 0,
  first_cwh INTEGER,
  last_cwh INTEGER,
  used_cwh INTEGER NOT NULL DEFAULT 0,      -- sum of forward increments (resets excluded)
  reverse_last_cwh INTEGER,
  voltage_min_dv INTEGER,
  voltage_max_dv INTEGER,
  power_max_dw INTEGER,
  remaining_last INTEGER,
  PRIMARY KEY (meter_id, day)
) STRICT, WITHOUT ROWID;

CREATE TABLE reading_months (
  meter_id INTEGER NOT NULL,
  month INTEGER NOT NULL,           -- site-local YYYYMM
  reads INTEGER NOT NULL DEFAULT 0,
  failures INTEGER NOT NULL DEFAULT 0,
  first_cwh INTEGER,
  last_cwh INTEGER,
  used_cwh INTEGER NOT NULL DEFAULT 0,
  reverse_last_cwh INTEGER,
  voltage_min_dv INTEGER,
  voltage_max_dv INTEGER,
  power_max_dw INTEGER,
  remaining_last INTEGER,
  PRIMARY KEY (meter_id, month)
) STRICT, WITHOUT ROWID;

-- F7.5 monitoring: the latest state and communication quality of each meter.
CREATE TABLE meter_status (
  meter_id INTEGER PRIMARY KEY REFERENCES meters(id) ON DELETE CASCADE,
  online INTEGER NOT NULL DEFAULT 0 CHECK (online IN (0, 1)),
  first_seen_at TEXT,
  last_seen_at TEXT,
  last_attempt_at TEXT,
  last_error TEXT NOT NULL DEFAULT '',
  failures_in_row INTEGER NOT NULL DEFAULT 0 CHECK (failures_in_row >= 0),
  polls INTEGER NOT NULL DEFAULT 0,
  successes INTEGER NOT NULL DEFAULT 0,
  retries INTEGER NOT NULL DEFAULT 0,
  bad_frames INTEGER NOT NULL DEFAULT 0,
  recent INTEGER NOT NULL DEFAULT 0,        -- outcomes of the last 32 polls, bit 0 newest, 1 = ok
  recent_count INTEGER NOT NULL DEFAULT 0 CHECK (recent_count BETWEEN 0 AND 32),
  energy_cwh INTEGER,
  energy_at INTEGER,                        -- Unix seconds of energy_cwh
  reverse_cwh INTEGER,
  remaining INTEGER,
  overdraft INTEGER,
  status3 INTEGER,
  drift_s INTEGER,
  clock_read_at TEXT,
  clock_set_at TEXT,
  updated_at TEXT NOT NULL
) STRICT;

-- F7.5 alarm and exception information: each with its start and end; an operator acknowledges.
-- At most one active row per meter and kind (an alarm ends when its condition clears).
CREATE TABLE alarms (
  id INTEGER PRIMARY KEY,
  meter_id INTEGER REFERENCES meters(id) ON DELETE SET NULL,
  meter_address TEXT NOT NULL,
  account_id INTEGER REFERENCES accounts(id) ON DELETE SET NULL,
  category TEXT NOT NULL CHECK (category IN ('alarm', 'exception')),
  kind TEXT NOT NULL CHECK (length(kind) > 0),
  code TEXT NOT NULL CHECK (code GLOB 'E[0-9][0-9][0-9]'),
  severity TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
  started_at TEXT NOT NULL,
  ended_at TEXT,
  last_seen_at TEXT NOT NULL,
  occurrences INTEGER NOT NULL DEFAULT 1 CHECK (occurrences >= 1),
  value INTEGER,                            -- the figure behind it: fen, seconds, 0.01 kWh, count
  detail TEXT NOT NULL DEFAULT '',
  acked_at TEXT,
  acked_by INTEGER REFERENCES operators(id),
  ack_note TEXT NOT NULL DEFAULT '',
  CHECK (ended_at IS NULL OR ended_at >= started_at),
  CHECK ((acked_at IS NULL) = (acked_by IS NULL))
) STRICT;
CREATE UNIQUE INDEX alarms_active ON alarms(meter_address, kind) WHERE ended_at IS NULL;
CREATE INDEX alarms_started ON alarms(started_at);
CREATE INDEX alarms_category_started ON alarms(category, started_at);
CREATE INDEX alarms_meter ON alarms(meter_id, started_at);

-- Gateway wallet: the metering baseline of each open account (billing.ConsumptionState), the
-- relay state the gateway commanded, and the charge measured but not yet posted to the ledger.
-- Times are site-local (billing works in the site's local time), ISO text without offset.
CREATE TABLE wallet_state (
  account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
  meter_id INTEGER NOT NULL,
  meter_address TEXT NOT NULL,
  baseline_at TEXT NOT NULL,
  register_cwh INTEGER NOT NULL CHECK (register_cwh >= 0),
  period_start TEXT NOT NULL,
  period_use_cwh INTEGER NOT NULL CHECK (period_use_cwh >= 0),
  residue INTEGER NOT NULL CHECK (residue >= 0),     -- value under one fen, 1/10000 fen
  held_at TEXT,
  held_register_cwh INTEGER,
  pending_fen INTEGER NOT NULL DEFAULT 0,            -- charged, not yet a ledger row
  pending_cwh INTEGER NOT NULL DEFAULT 0,
  pending_debt_fen INTEGER NOT NULL DEFAULT 0,       -- of pending_fen: friendly-credit debt
  pending_version_id INTEGER REFERENCES price_versions(id),
  pending_since TEXT,
  relay_open INTEGER NOT NULL DEFAULT 0 CHECK (relay_open IN (0, 1)),
  alarm2_warned INTEGER NOT NULL DEFAULT 0 CHECK (alarm2_warned IN (0, 1)),
  meter_alarm_on INTEGER NOT NULL DEFAULT 0 CHECK (meter_alarm_on IN (0, 1)),
  alarm_level TEXT NOT NULL DEFAULT 'none',
  reclose_seen_id INTEGER NOT NULL DEFAULT 0,        -- newest confirmed reclose vend taken in
  -- Debts posted in the ledger (friendly-credit debt, emergency credit owed), summed
  -- incrementally: ledger rows of the account above debts_seen_id are not counted yet.
  debts_seen_id INTEGER NOT NULL DEFAULT 0,
  friendly_debt_fen INTEGER NOT NULL DEFAULT 0,
  emergency_owed_fen INTEGER NOT NULL DEFAULT 0,
  updated_at TEXT NOT NULL,
  CHECK ((held_at IS NULL) = (held_register_cwh IS NULL)),
  CHECK (pending_fen >= 0 AND pending_debt_fen BETWEEN 0 AND pending_fen),
  CHECK (pending_cwh >= 0),
  CHECK ((pending_fen = 0 AND pending_cwh = 0) OR pending_version_id IS NOT NULL)
) STRICT;

-- The daily broadcast time sync (08H), once per bus and site-local day, across restarts.
CREATE TABLE clock_broadcasts (
  bus TEXT PRIMARY KEY,
  last_day INTEGER NOT NULL,        -- site-local YYYYMMDD
  last_at TEXT NOT NULL
) STRICT;
