//! Cost of classifying one statement (`hoop::policy::classify`): parse with libpg_query, walk
//! the whole tree, fingerprint.
//!
//! Run with `cargo bench -p hoop --bench classify` (under a minute). Per text:
//! - `uncached`: [`classify`] on the calling thread, what every new text costs;
//! - `cached`: [`Classifier::classify`] on a text it has seen, what a repeated ORM or pgbench
//!   statement costs (a hash lookup and an `Arc` clone).
//!
//! Texts: a short ORM lookup (~40 bytes) and a ~1.5 KB report (CTEs, joins, aggregates, window
//! functions, a subquery), both realistic CI traffic.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use hoop::policy::classify::{Classifier, DEFAULT_MAX_LEN, classify};

const SHORT: &str = "SELECT id, email FROM users WHERE id = $1";

const REPORT: &str = "WITH paid AS (
    SELECT o.id, o.user_id, o.amount, o.created_at, date_trunc('month', o.created_at) AS month
    FROM public.orders o
    JOIN public.payments p ON p.order_id = o.id AND p.status = 'captured'
    WHERE o.created_at >= $1 AND o.created_at < $2 AND o.currency = 'EUR'
),
monthly AS (
    SELECT month, user_id, count(*) AS orders, sum(amount) AS revenue,
           avg(amount) FILTER (WHERE amount > 0) AS avg_basket
    FROM paid
    GROUP BY month, user_id
),
ranked AS (
    SELECT m.*, rank() OVER (PARTITION BY m.month ORDER BY m.revenue DESC) AS rnk,
           sum(m.revenue) OVER (PARTITION BY m.month) AS month_total
    FROM monthly m
)
SELECT r.month,
       u.email,
       coalesce(u.display_name, split_part(u.email, '@', 1)) AS name,
       r.orders,
       round(r.revenue, 2) AS revenue,
       round(100.0 * r.revenue / nullif(r.month_total, 0), 1) AS share_pct,
       r.avg_basket,
       (SELECT count(*) FROM public.refunds f WHERE f.user_id = r.user_id AND f.created_at >= $1)
           AS refunds,
       CASE WHEN r.rnk <= 10 THEN 'top10' WHEN r.rnk <= 100 THEN 'top100' ELSE 'rest' END
           AS bucket
FROM ranked r
JOIN public.users u ON u.id = r.user_id
LEFT JOIN public.user_segments s ON s.user_id = u.id AND s.valid_to IS NULL
WHERE u.deleted_at IS NULL
  AND (s.segment IS NULL OR s.segment <> 'internal')
  AND r.rnk <= 1000
ORDER BY r.month DESC, r.rnk ASC
LIMIT 5000";

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let classifier = Classifier::new(DEFAULT_MAX_LEN, 1024);
    for (name, sql) in [("short", SHORT), ("report", REPORT)] {
        let statements = classify(sql).expect("the benchmark texts classify");
        assert_eq!(statements.statements.len(), 1);
        classifier
            .classify(sql)
            .expect("the benchmark texts classify");

        let mut group = c.benchmark_group(format!("classify/{name}_{}B", sql.len()));
        group.throughput(Throughput::Bytes(sql.len() as u64));
        group.bench_function("uncached", |b| b.iter(|| classify(black_box(sql))));
        group.bench_function("cached", |b| b.iter(|| classifier.classify(black_box(sql))));
        // The parts of `uncached` that are libpg_query's: its parse (C, protobuf out, decoded
        // by prost) and its fingerprint (a second parse).
        group.bench_function("pg_query_parse", |b| {
            b.iter(|| pg_query::parse(black_box(sql), 0))
        });
        group.bench_function("pg_query_fingerprint", |b| {
            b.iter(|| pg_query::fingerprint(black_box(sql), 0, 0))
        });
        group.finish();
    }
    c.final_summary();
}
