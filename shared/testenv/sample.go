package testenv

import (
	"fmt"
	"strings"
)

// SampleSchema is the demo's (and tests') small but real-looking shop in
// schema "shop". It covers the type matrix (integers and serials, numeric,
// floats, money, boolean, char/varchar/text/citext, uuid, date, time,
// timestamps, interval, json/jsonb, hstore, bit/varbit, inet/cidr/macaddr,
// an enum, a domain over numeric, arrays, bytea, and unsupported point and
// tsvector columns), a view, a materialized view, a partitioned table with
// two partitions, a table without a primary key, and identifiers that need
// quoting ("Order Items", "select", a"b, Größe). Tables that change carry an
// updated_at timestamptz for incremental replication. It needs the contrib
// extensions citext and hstore. Load data with SampleData.
const SampleSchema = `
CREATE EXTENSION IF NOT EXISTS citext;
CREATE EXTENSION IF NOT EXISTS hstore;
CREATE SCHEMA shop;
CREATE TYPE shop.order_status AS ENUM ('new', 'paid', 'shipped', 'delivered', 'cancelled');
CREATE DOMAIN shop.price AS numeric(12,2) CHECK (VALUE >= 0);

CREATE TABLE shop.customers (
  id          bigserial PRIMARY KEY,
  email       citext NOT NULL UNIQUE,
  full_name   text NOT NULL,
  "Display Name" varchar(80),
  country     char(2),
  signup_ip   inet,
  attributes  hstore,
  is_active   boolean NOT NULL DEFAULT true,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE shop.products (
  id          serial PRIMARY KEY,
  sku         uuid NOT NULL UNIQUE,
  name        varchar(200) NOT NULL,
  description text,
  price       shop.price NOT NULL,
  list_price  money,
  weight_kg   real,
  rating      double precision,
  stock       smallint NOT NULL DEFAULT 0,
  flags       bit(4),
  featured    bit(1),
  thumbnail   bytea,
  dimensions  numeric[],
  location    point,
  search      tsvector,
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE shop.orders (
  id             bigserial PRIMARY KEY,
  customer_id    bigint NOT NULL REFERENCES shop.customers (id),
  status         shop.order_status NOT NULL DEFAULT 'new',
  placed_at      timestamptz NOT NULL,
  ship_by        date,
  delivery_slot  time,
  total          numeric(14,2),
  discount_rate  numeric,
  details        jsonb,
  tags           text[],
  handling_time  interval,
  updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE shop."Order Items" (
  order_id    bigint NOT NULL REFERENCES shop.orders (id),
  line_no     smallint NOT NULL,
  product_id  integer NOT NULL REFERENCES shop.products (id),
  quantity    integer NOT NULL CHECK (quantity > 0),
  unit_price  shop.price NOT NULL,
  PRIMARY KEY (order_id, line_no)
);

CREATE TABLE shop.events (
  id           bigint GENERATED ALWAYS AS IDENTITY,
  happened_at  timestamptz NOT NULL,
  kind         text NOT NULL,
  payload      json,
  client_mac   macaddr,
  network      cidr,
  local_time   timestamp,
  tz_time      timetz,
  trace_bits   varbit,
  PRIMARY KEY (id, happened_at)
) PARTITION BY RANGE (happened_at);
CREATE TABLE shop.events_2024 PARTITION OF shop.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE shop.events_later PARTITION OF shop.events FOR VALUES FROM ('2025-01-01') TO (MAXVALUE);

-- No primary key: an append-only log.
CREATE TABLE shop.page_views (
  viewed_at   timestamp NOT NULL,
  path        text NOT NULL,
  referrer    text,
  session_id  uuid,
  scores      integer[][]
);

-- A reserved word, a quote and unicode in identifiers.
CREATE TABLE shop."select" (
  "Größe"  integer PRIMARY KEY,
  "a""b"   text,
  "from"   date,
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE VIEW shop.order_totals AS
  SELECT o.id AS order_id, o.customer_id, o.status, count(i.line_no) AS lines,
         sum(i.quantity * i.unit_price) AS amount, o.updated_at
  FROM shop.orders o LEFT JOIN shop."Order Items" i ON i.order_id = o.id
  GROUP BY o.id;

CREATE MATERIALIZED VIEW shop.daily_sales AS
  SELECT date_trunc('day', placed_at)::date AS day, count(*) AS orders, sum(total) AS revenue
  FROM shop.orders GROUP BY 1;
`

// SampleData returns INSERTs that fill the SampleSchema with about rows
// orders (at least 10), deterministic for a given rows, then refresh the
// materialized view and ANALYZE so row-count estimates are real.
func SampleData(rows int) string {
	rows = max(rows, 10)
	customers := max(rows/4, 3)
	var b strings.Builder
	fmt.Fprintf(&b, `
INSERT INTO shop.customers (email, full_name, "Display Name", country, signup_ip, attributes, is_active, created_at, updated_at)
SELECT 'Customer' || i || '@Example.com', 'Customer ' || i, CASE WHEN i %% 5 = 0 THEN NULL ELSE 'Kunde Nr. ' || i || ' — ü' END,
  (ARRAY['US','DE','FR','JP','BR'])[1 + i %% 5], ('10.0.' || (i %% 250) || '.' || (1 + i %% 200))::inet,
  hstore(ARRAY['tier', 'source'], ARRAY[(ARRAY['gold','silver','bronze'])[1 + i %% 3], CASE WHEN i %% 2 = 0 THEN 'ads' END]),
  i %% 7 <> 0, timestamptz '2024-01-01 00:00:00+00' + i * interval '7 hours',
  timestamptz '2024-06-01 00:00:00+00' + i * interval '5 hours'
FROM generate_series(1, %d) AS i;
`, customers)
	b.WriteString(`
INSERT INTO shop.products (sku, name, description, price, list_price, weight_kg, rating, stock, flags, featured, thumbnail, dimensions, location, search, updated_at)
SELECT md5('product' || i)::uuid, 'Product ' || i, CASE WHEN i % 4 = 0 THEN NULL ELSE 'A fine "product" no. ' || i || E'\nwith a second line' END,
  round((i * 3.7 + 0.99)::numeric, 2), (i * 4.5 + 0.5)::numeric::money, i * 0.25, CASE WHEN i = 3 THEN 'NaN'::float8 ELSE 1 + (i % 5) * 0.9 END,
  (i * 13) % 200, (i % 16)::bit(4), (i % 2)::bit(1), decode(md5('img' || i), 'hex'),
  ARRAY[i * 1.5, i * 2.25, 10], point(i, i * 2), to_tsvector('english', 'product number ' || i),
  timestamptz '2024-06-01 00:00:00+00' + i * interval '1 day'
FROM generate_series(1, 25) AS i;
`)
	fmt.Fprintf(&b, `
INSERT INTO shop.orders (customer_id, status, placed_at, ship_by, delivery_slot, total, discount_rate, details, tags, handling_time, updated_at)
SELECT 1 + i %% %d, (ARRAY['new','paid','shipped','delivered','cancelled']::shop.order_status[])[1 + i %% 5],
  timestamptz '2024-03-01 08:00:00+00' + i * interval '3 hours 17 minutes',
  date '2024-03-05' + (i / 8), time '09:00' + (i %% 10) * interval '1 hour', NULL, (i %% 4) / 40.0,
  jsonb_build_object('channel', (ARRAY['web','app','phone'])[1 + i %% 3], 'gift', i %% 9 = 0, 'notes', CASE WHEN i %% 6 = 0 THEN 'leave at door' END,
    'items', jsonb_build_array(i, i + 1)),
  CASE WHEN i %% 3 = 0 THEN ARRAY['priority', 'gift wrap'] WHEN i %% 3 = 1 THEN ARRAY[]::text[] ELSE NULL END,
  make_interval(days => i %% 3, hours => i %% 24, mins => i %% 60),
  timestamptz '2024-06-01 00:00:00+00' + i * interval '61 minutes'
FROM generate_series(1, %d) AS i;

INSERT INTO shop."Order Items" (order_id, line_no, product_id, quantity, unit_price)
SELECT o.id, l, 1 + (o.id * 7 + l) %% 25, 1 + (o.id + l) %% 4, p.price
FROM shop.orders o CROSS JOIN generate_series(1, 2) AS l
JOIN shop.products p ON p.id = 1 + (o.id * 7 + l) %% 25;

UPDATE shop.orders o SET total = s.amount
FROM (SELECT order_id, sum(quantity * unit_price) AS amount FROM shop."Order Items" GROUP BY order_id) s
WHERE s.order_id = o.id;

INSERT INTO shop.events (happened_at, kind, payload, client_mac, network, local_time, tz_time, trace_bits)
SELECT timestamptz '2024-12-25 00:00:00+00' + i * interval '53 minutes', (ARRAY['login','view','purchase'])[1 + i %% 3],
  json_build_object('n', i, 'ok', i %% 2 = 0), ('08:00:2b:01:02:' || lpad(to_hex(i %% 256), 2, '0'))::macaddr,
  ('192.168.' || (i %% 256) || '.0/24')::cidr, timestamp '2024-12-25 00:00' + i * interval '53 minutes',
  time with time zone '12:00:00+02' + i * interval '1 minute', (i %% 64)::bit(6)::varbit
FROM generate_series(1, %d) AS i;

INSERT INTO shop.page_views (viewed_at, path, referrer, session_id, scores)
SELECT timestamp '2024-05-01 00:00' + i * interval '11 minutes', '/products/' || (1 + i %% 25),
  CASE WHEN i %% 3 = 0 THEN 'https://search.example/?q=' || i END, md5('session' || (i / 5))::uuid,
  ARRAY[[i, i + 1], [i + 2, i + 3]]
FROM generate_series(1, %d) AS i;

INSERT INTO shop."select" ("Größe", "a""b", "from")
SELECT i, 'quote '' and "double" ' || i, date '2024-01-01' + i
FROM generate_series(1, 20) AS i;

REFRESH MATERIALIZED VIEW shop.daily_sales;
ANALYZE;
`, customers, rows, rows, rows)
	return b.String()
}
