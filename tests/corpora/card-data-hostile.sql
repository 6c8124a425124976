-- Uses of card data that must be refused (SQLSTATE 42501, a default. rule). One statement
-- per line; each is bounded (WHERE or LIMIT) so only the card-data model stands in the way.
-- Schema: tests/corpora/card-data-schema.sql. Read by policy::card_data's unit tests and by
-- tests/e2e/card_data.rs through the real gateway.
-- Transformations of the number.
SELECT reverse(pan) FROM cards WHERE id = 1
SELECT encode(convert_to(pan, 'UTF8'), 'hex') FROM cards WHERE id = 1
SELECT encode(convert_to(pan, 'UTF8'), 'base64') FROM cards WHERE id = 1
SELECT translate(pan, '0123456789', 'abcdefghij') FROM cards WHERE id = 1
SELECT regexp_replace(pan, '(\d)', '\1x', 'g') FROM cards WHERE id = 1
SELECT string_to_array(pan, NULL) FROM cards WHERE id = 1
SELECT unnest(string_to_array(pan, NULL)) FROM cards WHERE id = 1
SELECT substr(pan, 1, 8), substr(pan, 9) FROM cards WHERE id = 1
SELECT substr(pan, 9) FROM cards WHERE id = 1
SELECT substring(pan FROM 7 FOR 6) FROM cards WHERE id = 1
SELECT lpad(pan, 19, '0') FROM cards WHERE id = 1
SELECT pan::numeric::money FROM cards WHERE id = 1
SELECT pan::xid8 FROM cards WHERE id = 1
SELECT int8range(pan::bigint, NULL) FROM cards WHERE id = 1
SELECT CAST(pan AS bigint) FROM cards WHERE id = 1
SELECT pan::char(8) FROM cards WHERE id = 1
SELECT pan::varchar(10) FROM cards WHERE id = 1
SELECT pan::bytea FROM cards WHERE id = 1
SELECT pan || '' FROM cards WHERE id = 1
SELECT concat(pan, '') FROM cards WHERE id = 1
SELECT format('%s', pan) FROM cards WHERE id = 1
SELECT md5(pan) FROM cards WHERE id = 1
SELECT left(pan, 8) FROM cards WHERE id = 1
SELECT left(pan, -4) FROM cards WHERE id = 1
SELECT right(pan, 5) FROM cards WHERE id = 1
SELECT right(pan, -6) FROM cards WHERE id = 1
SELECT public.length(pan) FROM cards WHERE id = 1
SELECT max(pan) FROM cards WHERE id > 0
SELECT string_agg(pan, ',') FROM cards WHERE id > 0
SELECT array_agg(pan) FROM cards WHERE id > 0
SELECT lag(pan) OVER (ORDER BY id) FROM cards WHERE id > 0
SELECT rank() OVER (ORDER BY pan) FROM cards WHERE id > 0
SELECT row_to_json(c) FROM cards c WHERE id = 1
SELECT to_json(c.*) FROM cards c WHERE id = 1
SELECT json_build_object('p', pan) FROM cards WHERE id = 1
SELECT reverse(c::text) FROM cards c WHERE id = 1
SELECT (string_to_array(pan, NULL))[1] FROM cards WHERE id = 1
-- Column aliases in FROM, subqueries, CTEs, set operations, VALUES, joins.
SELECT reverse(p) FROM cards AS c(i, p) WHERE i = 1
SELECT reverse(p) FROM cards c(i, p) LIMIT 1
SELECT reverse(x.p) FROM (SELECT * FROM cards) x(i, p) LIMIT 1
SELECT reverse(p) FROM (SELECT pan AS p FROM cards) s LIMIT 1
SELECT reverse(s.p) FROM (SELECT id, pan p FROM cards) AS s WHERE s.id = 1
WITH x AS (SELECT pan FROM cards) SELECT reverse(pan) FROM x LIMIT 1
WITH x(a) AS (SELECT pan FROM cards) SELECT reverse(a) FROM x LIMIT 1
WITH RECURSIVE r(p) AS (SELECT pan FROM cards UNION ALL SELECT p FROM r WHERE false) SELECT reverse(p) FROM r LIMIT 1
SELECT reverse(p) FROM (SELECT pan FROM cards UNION SELECT 'x') u(p) LIMIT 1
SELECT reverse(column1) FROM (VALUES ((SELECT pan FROM cards LIMIT 1))) v
SELECT reverse(t.pan) FROM (cards JOIN orders ON true) AS t LIMIT 1
SELECT reverse(pan) FROM cards JOIN orders USING (id) LIMIT 1
SELECT reverse(cards.pan) FROM cards LIMIT 1
SELECT reverse(public.cards.pan) FROM public.cards LIMIT 1
SELECT reverse("pan") FROM "cards" LIMIT 1
SELECT (SELECT reverse(pan) FROM cards LIMIT 1)
SELECT (SELECT reverse(c.pan) FROM orders o LIMIT 1) FROM cards c WHERE c.id = 1
SELECT x FROM cards c, LATERAL unnest(ARRAY[c.pan]) AS u(x) WHERE c.id = 1
SELECT * FROM cards c, LATERAL (SELECT reverse(c.pan)) r WHERE c.id = 1
-- Predicate and ordering oracles.
SELECT id FROM cards WHERE substr(pan, 7, 1) = '1'
SELECT id FROM cards WHERE pan LIKE '4111%'
SELECT id FROM cards WHERE pan ILIKE '4111%'
SELECT id FROM cards WHERE pan ~ '^4111'
SELECT id FROM cards WHERE pan SIMILAR TO '4%'
SELECT id FROM cards WHERE pan > '4111'
SELECT id FROM cards WHERE pan BETWEEN '4' AND '5'
SELECT id FROM cards WHERE pan::bigint > 4111111111111110
SELECT id FROM cards WHERE starts_with(pan, '4111')
SELECT id FROM cards WHERE position('1' in pan) = 7
SELECT id FROM cards WHERE pan = ANY(ARRAY['4111111111111111'])
SELECT id FROM cards WHERE pan IN (SELECT g FROM guesses g)
SELECT c.id FROM cards c JOIN guesses g ON c.pan = g.x WHERE c.id > 0
SELECT id FROM cards WHERE pan = reverse('1111111111111114')
SELECT id FROM cards ORDER BY pan LIMIT 1
SELECT id, pan FROM cards WHERE id > 0 ORDER BY 2
SELECT id FROM cards WHERE id > 0 ORDER BY reverse(pan)
SELECT CASE WHEN pan LIKE '4%' THEN 1 END FROM cards WHERE id = 1
SELECT 1 FROM cards WHERE EXISTS (SELECT 1 WHERE pan LIKE '4%')
SELECT count(*) FROM cards GROUP BY id HAVING max(pan) > '4'
SELECT count(*) FILTER (WHERE pan LIKE '4%') FROM cards WHERE id > 0
SELECT greatest(pan, '5') FROM cards WHERE id = 1
DELETE FROM cards WHERE pan LIKE '4%'
UPDATE cards SET holder = 'x' WHERE pan > '4'
SELECT id FROM cards WHERE pan IN ('1','2','3','4','5','6','7','8','9','10','11','12','13','14','15','16','17','18','19','20','21','22','23','24','25','26','27','28','29','30','31','32','33')
SELECT pan, count(*) FROM cards GROUP BY pan HAVING count(*) > 1
UPDATE cards SET holder = holder RETURNING pan
-- Copies into other objects.
CREATE TABLE loot AS SELECT p FROM cards c(i, p)
CREATE TABLE loot AS SELECT pan FROM cards WHERE id = 1
CREATE TABLE loot AS SELECT * FROM cards WHERE id = 1
CREATE TEMP TABLE loot AS SELECT * FROM cards WHERE id = 1
CREATE MATERIALIZED VIEW loot AS SELECT pan FROM cards
CREATE VIEW loot AS SELECT p FROM cards c(i, p)
CREATE VIEW loot AS SELECT * FROM cards
SELECT * INTO loot FROM cards WHERE id = 1
SELECT pan INTO TEMP loot FROM cards WHERE id = 1
INSERT INTO loot SELECT pan FROM cards WHERE id = 1
INSERT INTO loot (x) SELECT p FROM (SELECT pan AS p FROM cards) s LIMIT 1
INSERT INTO loot SELECT * FROM cards WHERE id = 1
INSERT INTO loot VALUES ((SELECT pan FROM cards LIMIT 1))
WITH x AS (SELECT pan FROM cards WHERE id = 1) INSERT INTO loot SELECT pan FROM x
UPDATE orders SET note = (SELECT pan FROM cards WHERE id = 1) WHERE id = 1
UPDATE orders o SET note = c.pan FROM cards c WHERE o.card_id = c.id
UPDATE cards SET holder = pan WHERE id = 1
INSERT INTO cards (id, pan) VALUES (9, '4111') ON CONFLICT (id) DO UPDATE SET holder = excluded.pan
MERGE INTO loot l USING cards c ON l.id = c.id WHEN NOT MATCHED THEN INSERT VALUES (c.id, c.pan)
COPY (SELECT pan FROM cards WHERE id = 1) TO STDOUT
COPY cards (pan) TO STDOUT
COPY cards TO STDOUT
CREATE TABLE loot AS EXECUTE p(1)
PREPARE p AS SELECT reverse(pan) FROM cards WHERE id = $1
EXPLAIN ANALYZE SELECT reverse(pan) FROM cards WHERE id = 1
DECLARE c CURSOR FOR SELECT reverse(pan) FROM cards WHERE id = 1
-- Definitions that would compute from it later.
CREATE INDEX ON cards (reverse(pan))
CREATE INDEX ON cards (id) WHERE pan LIKE '4%'
ALTER TABLE cards ADD COLUMN r text GENERATED ALWAYS AS (reverse(pan)) STORED
CREATE POLICY p ON cards USING (pan LIKE '4%')
CREATE RULE r AS ON UPDATE TO cards DO ALSO INSERT INTO loot VALUES (NEW.pan)
CREATE TRIGGER t BEFORE UPDATE ON cards FOR EACH ROW WHEN (NEW.pan LIKE '4%') EXECUTE FUNCTION f()
CREATE FUNCTION leak() RETURNS text BEGIN ATOMIC SELECT pan FROM cards LIMIT 1; END
CREATE FUNCTION length(text) RETURNS int LANGUAGE sql AS 'SELECT 1'
CREATE FUNCTION public.right(text, int) RETURNS text LANGUAGE sql AS 'SELECT $1'
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = texteq)
DO $$ BEGIN INSERT INTO loot SELECT pan FROM cards; END $$
-- Columns masked whole (a CVV) reveal none of their characters.
SELECT left(cvv, 1) FROM cards WHERE id = 1
SELECT right(cvv, 2) FROM cards WHERE id = 1
SELECT reverse(cvv) FROM cards WHERE id = 1
SELECT id FROM cards WHERE cvv LIKE '1%'
INSERT INTO loot SELECT cvv FROM cards WHERE id = 1
-- More transformations.
SELECT overlay(pan placing 'x' from 7 for 1) FROM cards WHERE id = 1
SELECT split_part(pan, '1', 2) FROM cards WHERE id = 1
SELECT replace(pan, '1', 'one') FROM cards WHERE id = 1
SELECT to_hex(pan::bigint) FROM cards WHERE id = 1
SELECT pan::bigint * 3 FROM cards WHERE id = 1
SELECT pan::numeric / 7 FROM cards WHERE id = 1
SELECT ascii(pan) FROM cards WHERE id = 1
SELECT textsend(pan) FROM cards WHERE id = 1
SELECT repeat(pan, 1) FROM cards WHERE id = 1
SELECT trim(pan) FROM cards WHERE id = 1
SELECT xmlelement(name x, pan) FROM cards WHERE id = 1
SELECT quote_literal(pan) FROM cards WHERE id = 1
SELECT jsonb_build_array(pan) FROM cards WHERE id = 1
SELECT to_tsvector(pan) FROM cards WHERE id = 1
SELECT pan::text::bigint FROM cards WHERE id = 1
SELECT CAST(CAST(pan AS text) AS numeric) FROM cards WHERE id = 1
SELECT regexp_split_to_table(pan, '') FROM cards WHERE id = 1
SELECT substr(pan, g, 1) FROM cards, generate_series(1, 16) g WHERE id = 1
SELECT sum(pan::bigint) FROM cards WHERE id > 0
SELECT pan FROM cards WHERE id = 1 UNION SELECT reverse(pan) FROM cards WHERE id = 1
WITH t AS MATERIALIZED (SELECT pan p FROM cards) SELECT reverse(p) FROM t LIMIT 1
SELECT reverse(t.c1) FROM (SELECT pan c1 FROM cards) t LIMIT 1
SELECT reverse(cc.pan) FROM cards cc LIMIT 1
SELECT reverse(x) FROM cards AS c (i, x, h) LIMIT 1
SELECT reverse((c).pan) FROM cards c LIMIT 1
SELECT reverse(j.pan) FROM (cards NATURAL JOIN orders) AS j LIMIT 1
SELECT reverse(pan) FROM ONLY cards LIMIT 1
SELECT reverse(pan) FROM cards TABLESAMPLE SYSTEM (100) LIMIT 1
SELECT reverse(pan) FROM pg_catalog.pg_class, cards LIMIT 1
SELECT translate(pan, '0123456789', 'abcdefghij') FROM cards WHERE id = 1 FOR UPDATE
-- More predicates and orderings.
SELECT id FROM cards WHERE pan NOT LIKE '4%'
SELECT id FROM cards WHERE pan < $1
SELECT id FROM cards WHERE pan >= '5'
SELECT id FROM cards WHERE left(pan, 7) = '4111111'
SELECT id FROM cards WHERE substring(pan, 7) = '111111111'
SELECT id FROM cards WHERE pan ~* '^4'
SELECT id FROM cards WHERE strpos(pan, '1') = 1
SELECT id FROM cards WHERE length(pan) = 16 AND pan LIKE '4%'
SELECT id FROM cards WHERE EXISTS (SELECT 1 FROM guesses g WHERE g.x = cards.pan)
SELECT id FROM cards WHERE id > 0 ORDER BY pan DESC
SELECT id FROM cards WHERE id > 0 ORDER BY pan COLLATE "C"
SELECT row_number() OVER (PARTITION BY pan ORDER BY pan) FROM cards WHERE id > 0
SELECT id FROM cards WHERE pan = ANY('{4111111111111111}'::text[])
SELECT id FROM cards WHERE pan IN (SELECT '4111111111111111')
SELECT id FROM cards WHERE (pan, id) = ('4111111111111111', 1)
SELECT id FROM cards WHERE pan = '4111111111111111' OR pan LIKE '5%'
SELECT id FROM cards WHERE pan = (SELECT x FROM guesses LIMIT 1)
SELECT id FROM cards WHERE cast(pan as bigint) % 10 = 1
SELECT id FROM cards WHERE pan::numeric BETWEEN 4000000000000000 AND 5000000000000000
-- More copies.
INSERT INTO loot (x) VALUES ((SELECT reverse(pan) FROM cards LIMIT 1))
CREATE TABLE loot2 (x) AS SELECT pan FROM cards WHERE id = 1
CREATE UNLOGGED TABLE loot2 AS TABLE cards
SELECT * INTO UNLOGGED loot2 FROM cards WHERE id = 1
COPY (SELECT * FROM cards WHERE id = 1) TO STDOUT WITH CSV
COPY (TABLE cards) TO STDOUT
COPY cards TO '/tmp/hoop-cards'
WITH moved AS (DELETE FROM cards WHERE id = 1 RETURNING pan) INSERT INTO loot SELECT pan FROM moved
UPDATE loot SET x = c.pan FROM cards c WHERE c.id = 1
INSERT INTO loot SELECT pan FROM cards WHERE id = 1 ON CONFLICT DO NOTHING
UPDATE cards SET holder = pan || '' WHERE id = 1
CREATE VIEW loot2 AS SELECT reverse(pan) FROM cards
CREATE OR REPLACE VIEW loot2 AS SELECT * FROM cards
CREATE MATERIALIZED VIEW loot2 AS SELECT * FROM cards WITH NO DATA
CREATE TABLE loot2 AS SELECT c FROM cards c WHERE id = 1
CREATE TABLE loot2 AS SELECT ROW(pan) FROM cards WHERE id = 1
PREPARE q AS INSERT INTO loot SELECT pan FROM cards WHERE id = $1
EXPLAIN ANALYZE CREATE TABLE loot2 AS SELECT pan FROM cards WHERE id = 1
-- More definitions.
CREATE INDEX ON cards USING hash (md5(pan))
CREATE STATISTICS s ON (reverse(pan)) FROM cards
ALTER TABLE cards ADD CONSTRAINT c CHECK (pan NOT LIKE '9%')
CREATE FUNCTION f(c cards) RETURNS text LANGUAGE sql RETURN reverse(c.pan)
-- Values the planner sampled, and SQL hidden in strings.
SELECT reverse(histogram_bounds::text) FROM pg_stats WHERE tablename = 'cards'
SELECT translate(most_common_vals::text, '0123456789', 'abcdefghij') FROM pg_catalog.pg_stats WHERE attname = 'pan'
SELECT reverse(array_to_string(most_common_vals, ',')) FROM pg_stats WHERE tablename = 'cards'
SELECT reverse(query_to_xml('SELECT pan FROM cards', true, true, '')::text)
SELECT reverse(table_to_xml('cards', true, true, '')::text)
SELECT reverse(cursor_to_xml('c', 1, true, true, '')::text)
SELECT ts_stat('SELECT to_tsvector(pan) FROM cards')
-- A masked-whole value copied into a card-number column: its characters become revealable.
INSERT INTO cards (id, pan) SELECT id + 1000, cvv FROM cards WHERE id = 1
UPDATE cards SET pan = cvv WHERE id = 1
-- Names Postgres resolves that the walk did not: a LATERAL right side of a JOIN sees the left,
-- `r.f1` is a field of a column `r`, `USING (...) AS j`, `s.f` is `f(s)`, NEW/OLD in rules.
SELECT reverse(r.f1) FROM (SELECT ROW(pan) AS r FROM cards) s LIMIT 1
SELECT r.x FROM cards c(i, p) JOIN LATERAL (SELECT reverse(p) AS x) r ON true WHERE i = 1
SELECT r.x FROM cards c(i, p) JOIN LATERAL (SELECT reverse(c.p) AS x) r ON true WHERE c.i = 1
SELECT u.x FROM orders o, cards c JOIN LATERAL (SELECT reverse(pan) AS x) u ON true WHERE c.id = 1
SELECT reverse(j.p) FROM cards c(i, p) JOIN cards d(i, p) USING (p) AS j LIMIT 1
SELECT c.row_to_json FROM cards c WHERE id = 1
SELECT s.row_to_json FROM (SELECT pan, cvv FROM cards WHERE id = 1) s
SELECT j.row_to_json FROM (cards JOIN orders ON orders.card_id = cards.id) AS j LIMIT 1
CREATE RULE r AS ON UPDATE TO cards DO ALSO INSERT INTO loot (x) VALUES (NEW::text)
-- Objects named like what the allow-list trusts: `count(text)` beats the built-in
-- `count("any")` whatever the search_path; renames, types, domains and collations too.
CREATE AGGREGATE count(text) (sfunc = textcat, stype = text)
ALTER FUNCTION f(text) RENAME TO length
ALTER AGGREGATE a(text) RENAME TO count
CREATE DOMAIN text AS pg_catalog.text CHECK (VALUE <> '')
CREATE TYPE count AS RANGE (subtype = int4)
CREATE TYPE r AS RANGE (subtype = int4, multirange_type_name = length)
CREATE COLLATION "C" (locale = 'C')
-- A nondeterministic collation makes `=` match a class of values (digits made ignorable).
SELECT id FROM cards WHERE pan COLLATE digits = '4111111111111111'
SELECT id FROM cards WHERE pan COLLATE "und-x-icu" = '4111111111111111'
-- A table the session makes, named like a card-data one: copies into it are allowed, and its
-- triggers, rules and casts can send the rows anywhere.
CREATE TEMP TABLE cards (id int, pan text, holder text, cvv text)
CREATE TEMP TABLE cards (LIKE public.cards)
ALTER TABLE loot RENAME TO cards
CREATE TEMP TABLE cards AS SELECT 1 AS id, 'x' AS pan
SELECT 'x' AS pan INTO TEMP cards
-- SQL/JSON, SQL-standard syntax, WITHIN GROUP, WITH TIES, row comparisons and more.
SELECT id FROM cards WHERE JSON_EXISTS(to_json(pan), '$ ? (@ like_regex "^4")')
SELECT JSON_OBJECT('p': pan) FROM cards WHERE id = 1
SELECT id FROM cards WHERE pan IS JSON
SELECT JSON_ARRAY(pan) FROM cards WHERE id = 1
SELECT JSON_ARRAYAGG(pan ORDER BY pan) FROM cards WHERE id > 0
SELECT xmlconcat(pan::xml) FROM cards WHERE id = 1
SELECT id FROM cards WHERE pan IS NORMALIZED
SELECT normalize(pan) FROM cards WHERE id = 1
SELECT EXTRACT(year FROM pan::date) FROM cards WHERE id = 1
SELECT pan FROM cards WHERE id > 0 ORDER BY 1 FETCH FIRST 1 ROWS WITH TIES
SELECT DISTINCT ON (pan) id FROM cards WHERE id > 0 ORDER BY pan
SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY pan) FROM cards WHERE id > 0
SELECT mode() WITHIN GROUP (ORDER BY pan) FROM cards WHERE id > 0
SELECT text(pan) FROM cards WHERE id = 1
SELECT id FROM cards WHERE pan OPERATOR(pg_catalog.~~) '4%'
SELECT pan OPERATOR(pg_catalog.||) 'x' FROM cards WHERE id = 1
SELECT id FROM cards WHERE (pan, pan) > ('4', '4')
SELECT id FROM cards WHERE ROW(pan) = ROW('4111111111111111') AND id = 1
SELECT id FROM cards WHERE pan = ALL (ARRAY['4'])
SELECT id FROM cards WHERE nullif(pan, '4111111111111111') IS NULL
SELECT id FROM cards GROUP BY id, pan HAVING pan > '4' LIMIT 1
SELECT id FROM cards WHERE pan IS DISTINCT FROM pan || ''
SELECT x FROM cards c, ROWS FROM (unnest(ARRAY[c.pan])) WITH ORDINALITY AS u(x, n) WHERE c.id = 1
SELECT (SELECT x FROM (VALUES (c.pan)) v(x) ORDER BY x LIMIT 1) FROM cards c WHERE id = 1
SELECT id FROM cards WHERE (SELECT pan) > '4'
SELECT id FROM cards c WHERE c > ROW(1, '4', 'a', 'b')::cards
SELECT id FROM cards c WHERE c.* > ROW(1, '4', 'a', 'b')::cards
SELECT (ARRAY(SELECT pan FROM cards WHERE id > 0 ORDER BY id))[1:2] FROM orders LIMIT 1
SELECT sum(length(pan)) OVER (ORDER BY pan) FROM cards WHERE id > 0
-- Grouping, DISTINCT, PARTITION BY, USING/NATURAL joins and set operations compare rows with one
-- another: with rows of guesses (inserted into cards, or a UNION ALL of guesses) they test them
-- all in one statement.
SELECT max(g) FROM (SELECT pan, NULL AS g FROM cards WHERE id = 1 UNION ALL SELECT x, reverse(x) FROM guesses) u GROUP BY pan HAVING count(*) > 1
SELECT max(id) FROM cards GROUP BY pan HAVING count(*) > 1 LIMIT 1
SELECT pan, count(*) FROM cards GROUP BY pan HAVING count(*) > 1 LIMIT 10
SELECT DISTINCT pan FROM cards WHERE id > 0
SELECT count(DISTINCT pan) FROM cards WHERE id > 0
SELECT id, count(*) OVER (PARTITION BY pan) FROM cards WHERE id > 0
SELECT reverse(g.x) FROM guesses g, LATERAL (SELECT pan FROM cards WHERE id = 1 INTERSECT SELECT g.x) s
SELECT count(*) FROM (SELECT x FROM guesses EXCEPT SELECT pan FROM cards WHERE id = 1) e
SELECT count(*) FROM (SELECT pan FROM cards WHERE id = 1 UNION SELECT x FROM guesses) u
SELECT c.id, reverse(g.y) FROM cards c JOIN (SELECT x AS pan, x AS y FROM guesses) g USING (pan) WHERE c.id = 1
SELECT c.id FROM cards c NATURAL JOIN (SELECT x AS pan FROM guesses) g WHERE c.id = 1
-- A copy by position into a table whose column order is not known: the card number may land in
-- any column of it.
INSERT INTO cards SELECT id + 1000, holder, pan FROM cards WHERE id = 1
MERGE INTO cards t USING cards s ON t.id = s.id + 1000 WHEN NOT MATCHED THEN INSERT VALUES (s.id + 1000, s.holder, s.pan)
WITH moved AS (UPDATE cards SET holder = holder WHERE id = 1 RETURNING id, cvv) INSERT INTO cards (id, pan) SELECT id + 3000, cvv FROM moved
-- SQL/JSON and XML table functions, whole-row orderings, LATERAL VALUES, ROWS FROM, copies.
SELECT j.a FROM cards c, JSON_TABLE(c.pan FORMAT JSON, '$' COLUMNS (a text PATH '$')) j WHERE c.id = 1
SELECT x.a FROM cards c, XMLTABLE('/a' PASSING c.pan COLUMNS a text PATH '.') x WHERE c.id = 1
SELECT JSON_SERIALIZE(pan) FROM cards WHERE id = 1
SELECT JSON(pan) FROM cards WHERE id = 1
SELECT JSON_SCALAR(pan) FROM cards WHERE id = 1
SELECT JSON_QUERY(pan::jsonb, '$') FROM cards WHERE id = 1
SELECT JSON_VALUE(to_jsonb(pan), '$') FROM cards WHERE id = 1
SELECT JSON_OBJECTAGG(id : pan) FROM cards WHERE id > 0
SELECT xmlserialize(content pan AS text) FROM cards WHERE id = 1
SELECT xmlforest(pan) FROM cards WHERE id = 1
SELECT pan IS NFC NORMALIZED FROM cards WHERE id = 1
SELECT a FROM cards c, LATERAL (VALUES (reverse(c.pan))) v(a) WHERE c.id = 1
SELECT x FROM cards c CROSS JOIN LATERAL ROWS FROM (generate_series(1, 2), unnest(ARRAY[c.pan])) AS r(n, x) WHERE c.id = 1
SELECT (c.*)::text FROM cards c WHERE id = 1 ORDER BY 1
SELECT id FROM cards c WHERE c.* IS DISTINCT FROM NULL ORDER BY c.* LIMIT 1
SELECT id FROM cards ORDER BY cards LIMIT 1
SELECT id FROM cards c ORDER BY c LIMIT 1
SELECT id FROM cards c ORDER BY (c).* LIMIT 1
SELECT id FROM cards WHERE ROW(pan) > ROW('4') LIMIT 1
SELECT pan FROM cards WHERE id > 0 ORDER BY id, 1 LIMIT 2
SELECT pan AS id FROM cards WHERE id > 0 ORDER BY id LIMIT 2
SELECT x FROM cards c(id, x) WHERE id > 0 ORDER BY x LIMIT 2
WITH t(a) AS (SELECT pan FROM cards) SELECT a FROM t WHERE a > '4' LIMIT 1
SELECT s.a FROM (SELECT pan FROM cards) s(a) WHERE s.a LIKE '4%' LIMIT 1
SELECT id FROM cards c WHERE EXISTS (SELECT FROM cards d WHERE d.pan < c.pan)
SELECT reverse(t.p) FROM cards, LATERAL (SELECT cards.pan) t(p) WHERE cards.id = 1
SELECT id FROM cards WHERE pan = '4111111111111111' COLLATE "C" OR pan >= '4' COLLATE "C"
INSERT INTO orders (note) SELECT pan FROM cards WHERE id = 1 RETURNING note
INSERT INTO guesses SELECT (SELECT pan FROM cards WHERE id = 1)
INSERT INTO guesses (x) VALUES ((SELECT cvv FROM cards WHERE id = 1))
UPDATE guesses SET x = (SELECT c.pan FROM cards c WHERE c.id = 1) WHERE x IS NULL
DELETE FROM guesses g USING cards c WHERE g.x = c.pan
DELETE FROM guesses WHERE x IN (SELECT pan FROM cards WHERE id = 1)
SELECT pg_catalog.count(DISTINCT pan) FROM cards WHERE id > 0
SELECT id FROM cards GROUP BY ROLLUP (pan, id) LIMIT 2
SELECT id FROM cards GROUP BY CUBE (pan) LIMIT 2
SELECT max(id) FROM cards GROUP BY GROUPING SETS ((pan)) LIMIT 2
-- More than 32 equality tests in one statement, however written, are a batch of guesses.
SELECT id FROM cards WHERE pan = '4111110000000000' OR pan = '4111110000000001' OR pan = '4111110000000002' OR pan = '4111110000000003' OR pan = '4111110000000004' OR pan = '4111110000000005' OR pan = '4111110000000006' OR pan = '4111110000000007' OR pan = '4111110000000008' OR pan = '4111110000000009' OR pan = '4111110000000010' OR pan = '4111110000000011' OR pan = '4111110000000012' OR pan = '4111110000000013' OR pan = '4111110000000014' OR pan = '4111110000000015' OR pan = '4111110000000016' OR pan = '4111110000000017' OR pan = '4111110000000018' OR pan = '4111110000000019' OR pan = '4111110000000020' OR pan = '4111110000000021' OR pan = '4111110000000022' OR pan = '4111110000000023' OR pan = '4111110000000024' OR pan = '4111110000000025' OR pan = '4111110000000026' OR pan = '4111110000000027' OR pan = '4111110000000028' OR pan = '4111110000000029' OR pan = '4111110000000030' OR pan = '4111110000000031' OR pan = '4111110000000032'
SELECT CASE pan WHEN '4111110000000000' THEN 0 WHEN '4111110000000001' THEN 1 WHEN '4111110000000002' THEN 2 WHEN '4111110000000003' THEN 3 WHEN '4111110000000004' THEN 4 WHEN '4111110000000005' THEN 5 WHEN '4111110000000006' THEN 6 WHEN '4111110000000007' THEN 7 WHEN '4111110000000008' THEN 8 WHEN '4111110000000009' THEN 9 WHEN '4111110000000010' THEN 10 WHEN '4111110000000011' THEN 11 WHEN '4111110000000012' THEN 12 WHEN '4111110000000013' THEN 13 WHEN '4111110000000014' THEN 14 WHEN '4111110000000015' THEN 15 WHEN '4111110000000016' THEN 16 WHEN '4111110000000017' THEN 17 WHEN '4111110000000018' THEN 18 WHEN '4111110000000019' THEN 19 WHEN '4111110000000020' THEN 20 WHEN '4111110000000021' THEN 21 WHEN '4111110000000022' THEN 22 WHEN '4111110000000023' THEN 23 WHEN '4111110000000024' THEN 24 WHEN '4111110000000025' THEN 25 WHEN '4111110000000026' THEN 26 WHEN '4111110000000027' THEN 27 WHEN '4111110000000028' THEN 28 WHEN '4111110000000029' THEN 29 WHEN '4111110000000030' THEN 30 WHEN '4111110000000031' THEN 31 WHEN '4111110000000032' THEN 32 END FROM cards WHERE id = 1
SELECT (SELECT count(*) FROM cards WHERE pan = '4111110000000000'), (SELECT count(*) FROM cards WHERE pan = '4111110000000001'), (SELECT count(*) FROM cards WHERE pan = '4111110000000002'), (SELECT count(*) FROM cards WHERE pan = '4111110000000003'), (SELECT count(*) FROM cards WHERE pan = '4111110000000004'), (SELECT count(*) FROM cards WHERE pan = '4111110000000005'), (SELECT count(*) FROM cards WHERE pan = '4111110000000006'), (SELECT count(*) FROM cards WHERE pan = '4111110000000007'), (SELECT count(*) FROM cards WHERE pan = '4111110000000008'), (SELECT count(*) FROM cards WHERE pan = '4111110000000009'), (SELECT count(*) FROM cards WHERE pan = '4111110000000010'), (SELECT count(*) FROM cards WHERE pan = '4111110000000011'), (SELECT count(*) FROM cards WHERE pan = '4111110000000012'), (SELECT count(*) FROM cards WHERE pan = '4111110000000013'), (SELECT count(*) FROM cards WHERE pan = '4111110000000014'), (SELECT count(*) FROM cards WHERE pan = '4111110000000015'), (SELECT count(*) FROM cards WHERE pan = '4111110000000016'), (SELECT count(*) FROM cards WHERE pan = '4111110000000017'), (SELECT count(*) FROM cards WHERE pan = '4111110000000018'), (SELECT count(*) FROM cards WHERE pan = '4111110000000019'), (SELECT count(*) FROM cards WHERE pan = '4111110000000020'), (SELECT count(*) FROM cards WHERE pan = '4111110000000021'), (SELECT count(*) FROM cards WHERE pan = '4111110000000022'), (SELECT count(*) FROM cards WHERE pan = '4111110000000023'), (SELECT count(*) FROM cards WHERE pan = '4111110000000024'), (SELECT count(*) FROM cards WHERE pan = '4111110000000025'), (SELECT count(*) FROM cards WHERE pan = '4111110000000026'), (SELECT count(*) FROM cards WHERE pan = '4111110000000027'), (SELECT count(*) FROM cards WHERE pan = '4111110000000028'), (SELECT count(*) FROM cards WHERE pan = '4111110000000029'), (SELECT count(*) FROM cards WHERE pan = '4111110000000030'), (SELECT count(*) FROM cards WHERE pan = '4111110000000031'), (SELECT count(*) FROM cards WHERE pan = '4111110000000032')
-- WITH RECURSIVE: a value moves one column per iteration; a CTE reads a later one.
WITH RECURSIVE r(a, b, c, n) AS (SELECT '', '', pan, 1 FROM cards WHERE id = 1 UNION ALL SELECT c, a, b, n + 1 FROM r WHERE n < 3) SELECT reverse(b) FROM r
WITH RECURSIVE a AS (SELECT * FROM b), b(p) AS (SELECT pan FROM cards) SELECT reverse(p) FROM a LIMIT 1
-- GROUP BY an output column's position or name.
SELECT pan, max(id) FROM cards GROUP BY 1 HAVING count(*) > 1 LIMIT 5
SELECT pan AS k, max(id) FROM cards GROUP BY k HAVING count(*) > 1 LIMIT 5
SELECT pan AS k, max(id) FROM cards GROUP BY ROLLUP (k) LIMIT 5
-- Function-style casts, operators by OPERATOR(), SQL-standard forms, ordered-set aggregates.
SELECT text(pan) FROM cards WHERE id = 1
SELECT int8(pan) FROM cards WHERE id = 1
SELECT pan FROM cards WHERE id = 1 ORDER BY 1
SELECT array_position(ARRAY[pan], '4111') FROM cards WHERE id = 1
SELECT (SELECT pan FROM cards WHERE id = 1)::bigint
SELECT id FROM cards WHERE pan = ANY (SELECT x FROM guesses)
SELECT json_agg(c) FROM cards c WHERE id = 1
SELECT string_agg(x::text, '') FROM (SELECT pan FROM cards WHERE id = 1) x
SELECT OPERATOR(pg_catalog.||)(pan, 'x') FROM cards WHERE id = 1
SELECT pan OPERATOR(pg_catalog.~~) '4%' FROM cards WHERE id = 1
SELECT normalize(pan) FROM cards WHERE id = 1
SELECT pan IS NORMALIZED FROM cards WHERE id = 1
SELECT EXTRACT(year FROM pan::date) FROM cards WHERE id = 1
SELECT mode() WITHIN GROUP (ORDER BY pan) FROM cards WHERE id > 0
SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY pan) FROM cards WHERE id > 0
SELECT id FROM cards WHERE id > 0 ORDER BY pan FETCH FIRST 1 ROWS WITH TIES
SELECT JSON_OBJECT('p': pan) FROM cards WHERE id = 1
SELECT pan::json FROM cards WHERE id = 1
SELECT id FROM cards WHERE (pan = '1') IS NOT TRUE AND pan < '5'
SELECT * FROM ROWS FROM (unnest(ARRAY[(SELECT pan FROM cards LIMIT 1)])) WITH ORDINALITY
SELECT id FROM cards WHERE pan::text::text > '4'
SELECT id FROM cards c WHERE EXISTS (SELECT 1 FROM cards d WHERE d.id = c.id AND d.pan > '4')
SELECT pan FROM cards WHERE id = 1 UNION SELECT x FROM guesses
