//! Medians, percentiles and the tables the benchmark prints.

use std::time::Duration;

/// The `q` quantile (0..=1) of `values`, by nearest rank.
pub(crate) fn quantile<T: Copy + PartialOrd>(values: &[T], q: f64) -> T {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Microseconds, for the tables.
pub(crate) fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Per-round figures of one target at one concurrency.
#[derive(Default)]
pub(crate) struct Series {
    pub(crate) latencies: Vec<Duration>,
    pub(crate) p50: Vec<Duration>,
    pub(crate) p99: Vec<Duration>,
    pub(crate) rps: Vec<f64>,
}

impl Series {
    pub(crate) fn push(&mut self, round: crate::load::Round) {
        self.p50.push(quantile(&round.latencies, 0.50));
        self.p99.push(quantile(&round.latencies, 0.99));
        self.rps.push(round.rps());
        self.latencies.extend(round.latencies);
    }
}

/// Median and range of the per-round ratios `a[i] / b[i]`.
pub(crate) fn ratio(a: &[f64], b: &[f64]) -> (f64, f64, f64) {
    let ratios: Vec<f64> = a.iter().zip(b).map(|(a, b)| a / b).collect();
    (
        quantile(&ratios, 0.5),
        quantile(&ratios, 0.0),
        quantile(&ratios, 1.0),
    )
}

/// The seconds of each duration, for [`ratio`].
pub(crate) fn secs(values: &[Duration]) -> Vec<f64> {
    values.iter().map(Duration::as_secs_f64).collect()
}

/// "met" or "not met".
pub(crate) fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "not met" }
}

/// How many services the benchmark compares.
pub(crate) const SERVICES: usize = 5;

/// The services, in the order their series are kept.
pub(crate) const NAMES: [&str; SERVICES] = [
    "adapter",
    "by hand",
    "tenant-runtime by hand",
    "by hand, in a transaction",
    "tenant-runtime by hand, as the member",
];

/// The figures, as markdown tables for BENCHMARKS.md: per service, the
/// ratios (adapter / by hand against the targets, then the split), and
/// round trips and statements per request.
pub(crate) fn table(
    concurrency: &[usize],
    series: &[[Series; SERVICES]],
    counted: &[(f64, f64); SERVICES],
) -> String {
    let mut out = String::from(
        "| clients | service | p50 | p99 | requests/s (median of rounds) |\n| --- | --- | --- | --- | --- |\n",
    );
    for (i, clients) in concurrency.iter().enumerate() {
        for (s, name) in series[i].iter().zip(NAMES) {
            out += &format!(
                "| {clients} | {name} | {:.0} µs | {:.0} µs | {:.0} |\n",
                us(quantile(&s.latencies, 0.50)),
                us(quantile(&s.latencies, 0.99)),
                quantile(&s.rps, 0.5),
            );
        }
    }
    out += "\n| clients | ratio of | p50 | p99 | requests/s | latency <= 1.10x | requests/s >= 0.9x |\n| --- | --- | --- | --- | --- | --- | --- |\n";
    for (i, clients) in concurrency.iter().enumerate() {
        let [adapter, hand, runtime, hand_tx, runtime_as] = &series[i];
        for (label, a, b) in [
            ("adapter / by hand", adapter, hand),
            ("adapter / by hand, in a transaction", adapter, hand_tx),
            ("by hand, in a transaction / by hand", hand_tx, hand),
            ("tenant-runtime by hand / by hand", runtime, hand),
            ("adapter / tenant-runtime by hand", adapter, runtime),
            (
                "tenant-runtime by hand, as the member / tenant-runtime by hand",
                runtime_as,
                runtime,
            ),
            (
                "adapter / tenant-runtime by hand, as the member",
                adapter,
                runtime_as,
            ),
        ] {
            let p50 = ratio(&secs(&a.p50), &secs(&b.p50));
            let p99 = ratio(&secs(&a.p99), &secs(&b.p99));
            let rps = ratio(&a.rps, &b.rps);
            out += &format!(
                "| {clients} | {label} | {} | {} | {} | {} | {} |\n",
                fmt_ratio(p50),
                fmt_ratio(p99),
                fmt_ratio(rps),
                verdict(p50.0 <= 1.10),
                verdict(rps.0 >= 0.9),
            );
        }
    }
    out +=
        "\n| service | round trips per request | statements per request |\n| --- | --- | --- |\n";
    for ((trips, statements), name) in counted.iter().zip(NAMES) {
        out += &format!("| {name} | {trips:.2} | {statements:.2} |\n");
    }
    out
}

fn fmt_ratio((median, low, high): (f64, f64, f64)) -> String {
    format!("{median:.3}x ({low:.2} to {high:.2})")
}
