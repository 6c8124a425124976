-- Ordinary work on the card tables that must run. One statement per line; same schema.
SELECT pan FROM cards WHERE id = 1
SELECT * FROM cards WHERE id = 1
SELECT c.* FROM cards c WHERE c.id = 1
SELECT c FROM cards c WHERE id = 1
SELECT c::text FROM cards c WHERE id = 1
SELECT id, right(pan, 4), left(pan, 6) FROM cards WHERE id = 1
SELECT substr(pan, 1, 6) FROM cards WHERE id = 1
SELECT pg_catalog.right(pan, 4) FROM cards WHERE id = 1
SELECT left(pan, 6) || '******' || right(pan, 4) FROM cards WHERE id = 1
SELECT count(pan), count(*) FROM cards
SELECT length(pan), char_length(pan), octet_length(pan) FROM cards WHERE id = 1
SELECT id FROM cards WHERE pan = $1
SELECT id FROM cards WHERE pan = '4111111111111111'
SELECT id FROM cards WHERE $1 = pan
SELECT id FROM cards WHERE pan = $1::text
SELECT id FROM cards WHERE pan <> '4111111111111111' AND id = 1
SELECT id FROM cards WHERE pan IN ('4111111111111111', '5555555555554444')
SELECT id FROM cards WHERE pan IS NULL
SELECT id FROM cards WHERE pan IS NOT DISTINCT FROM $1
SELECT id FROM cards WHERE right(pan, 4) = '1111'
SELECT id FROM cards WHERE length(pan) > 15
SELECT pan::text FROM cards WHERE id = 1
SELECT coalesce(pan, '') FROM cards WHERE id = 1
SELECT CASE WHEN id = 1 THEN pan END FROM cards WHERE id < 3
SELECT CASE pan WHEN '4111111111111111' THEN 'test card' ELSE 'other' END FROM cards WHERE id = 1
SELECT pan FROM (SELECT * FROM cards) s WHERE id = 1
SELECT p FROM cards c(i, p) WHERE i = 1
SELECT o.total, c.holder FROM orders o JOIN cards c ON c.id = o.card_id WHERE o.id = 1
SELECT "cards"."id", "cards"."pan" FROM "cards" WHERE "cards"."id" = $1 LIMIT $2
SELECT holder, count(*) FROM cards GROUP BY holder ORDER BY holder
SELECT id FROM cards ORDER BY id LIMIT 10
SELECT * FROM cards WHERE id = 1 FOR UPDATE
INSERT INTO cards (id, pan, holder) VALUES (2, '4111111111111111', 'B')
INSERT INTO cards (id, pan) VALUES ($1, $2) RETURNING id, pan
UPDATE cards SET pan = $1 WHERE id = $2
UPDATE cards SET holder = 'C' WHERE id = 1 RETURNING *
DELETE FROM cards WHERE id = 2 RETURNING pan
INSERT INTO cards (id, pan) SELECT id + 100, pan FROM cards WHERE id = 1
SELECT count(*) FROM (SELECT reverse(holder) FROM cards) s
SELECT o.id FROM orders o WHERE o.total > 10 ORDER BY o.placed_at DESC LIMIT 5
CREATE TABLE audit_notes (id serial PRIMARY KEY, note text CHECK (length(note) < 500))
CREATE INDEX ON cards (pan)
CREATE INDEX ON cards (holder) WHERE holder IS NOT NULL
CREATE VIEW order_totals AS SELECT card_id, sum(total) FROM orders GROUP BY card_id
ALTER TABLE orders ADD COLUMN note text
SELECT cvv FROM cards WHERE id = 1
SELECT length(cvv) FROM cards WHERE id = 1
COPY orders TO STDOUT
SELECT 1
SELECT id FROM cards WHERE pan = $1 AND holder = $2
SELECT right(pan, 4) AS last4 FROM cards WHERE holder = 'A' ORDER BY last4
SELECT pan COLLATE "C" FROM cards WHERE id = 1
SELECT id FROM cards WHERE length(pan) = 16 ORDER BY id LIMIT 5
SELECT (c).pan FROM cards c WHERE id = 1
SELECT count(*) FROM cards c JOIN orders o ON o.card_id = c.id WHERE o.total > 5
SELECT id FROM cards WHERE pan IS NOT NULL AND id = 1
SELECT attname, null_frac, n_distinct FROM pg_stats WHERE tablename = 'orders'
SELECT histogram_bounds FROM pg_stats WHERE tablename = 'cards' LIMIT 5
SHOW client_encoding
SHOW role
SELECT set_config(name, 'view, foreign-table', false) FROM pg_settings WHERE name = 'restrict_nonsystem_relation_kind'
SELECT r.x FROM cards c JOIN LATERAL (SELECT c.holder AS x) r ON true WHERE c.id = 1
SELECT j.id FROM cards c JOIN orders o USING (id) AS j WHERE j.id = 1
SELECT r.f1 FROM (SELECT ROW(holder) AS r FROM cards WHERE id = 1) s
CREATE TEMP TABLE scratch (id int, note text)
CREATE TABLE holder_copy AS SELECT id, holder FROM cards WHERE id = 1
ALTER TABLE orders RENAME COLUMN note TO remark
ALTER TABLE orders ADD COLUMN pan_last4 text
SELECT pan COLLATE pg_catalog."C" FROM cards WHERE id = 1
SELECT id FROM cards WHERE pan COLLATE "C" = '4111111111111111'
CREATE FUNCTION add_one(x int) RETURNS int LANGUAGE sql RETURN x + 1
INSERT INTO cards (id, cvv) SELECT id + 200, cvv FROM cards WHERE id = 1
UPDATE cards SET cvv = pan WHERE id = 201
SELECT pan FROM (SELECT pan FROM cards WHERE id = 1 UNION ALL SELECT pan FROM cards WHERE id = 2) u LIMIT 2
SELECT DISTINCT holder FROM cards WHERE id > 0
SELECT holder, count(pan) FROM cards GROUP BY holder LIMIT 10
SELECT row(pan)::text FROM cards WHERE id = 1
