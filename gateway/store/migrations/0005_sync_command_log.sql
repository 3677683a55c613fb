-- Schema 5: commands received from the cloud master station, by id, with the result sent back.
-- A command delivered twice (MQTT QoS 1, a cloud retry) gets the first result again and runs
-- once; the sync layer checks this table before calling the services. (The sync layer also
-- creates it IF NOT EXISTS for databases it opens on its own, e.g. in its tests.)
CREATE TABLE IF NOT EXISTS sync_command_log (
  id TEXT PRIMARY KEY,
  command TEXT NOT NULL,
  digest TEXT NOT NULL,
  received_at TEXT NOT NULL,
  result TEXT NOT NULL
);
