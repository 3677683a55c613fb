"""JSON Schemas (draft 2020-12) of every MQTT payload; loaded by gateway.sync.contract."""
