//! Gamma and normal draws for Thompson sampling, so the crate needs no
//! distributions dependency for two small, well-known algorithms.

use rand::{Rng, RngExt};

/// Standard normal (Box–Muller).
fn normal(rng: &mut impl Rng) -> f64 {
    // 1 - [0, 1) is (0, 1]: ln never sees zero.
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Gamma(shape, rate), mean shape / rate (Marsaglia & Tsang, 2000).
pub(super) fn gamma(rng: &mut impl Rng, shape: f64, rate: f64) -> f64 {
    if shape < 1.0 {
        // Boost: Gamma(a) = Gamma(a + 1) * U^(1/a).
        let u = 1.0 - rng.random::<f64>();
        return gamma(rng, shape + 1.0, rate) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = normal(rng);
        let v = 1.0 + c * x;
        if v <= 0.0 {
            continue;
        }
        let v = v * v * v;
        let u = 1.0 - rng.random::<f64>();
        if u < 1.0 - 0.0331 * x.powi(4) || u.ln() < 0.5 * x * x + d * (1.0 - v + v.ln()) {
            return d * v / rate;
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    use super::*;

    #[test]
    fn gamma_draws_have_the_right_mean_and_variance() {
        let mut rng = SmallRng::seed_from_u64(3);
        for (shape, rate) in [(0.5, 2.0), (1.0, 10.0), (21.0, 1_000.0)] {
            let n = 40_000;
            let draws: Vec<f64> = (0..n).map(|_| gamma(&mut rng, shape, rate)).collect();
            let mean = draws.iter().sum::<f64>() / f64::from(n);
            let var = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / f64::from(n);
            let (m, v) = (shape / rate, shape / (rate * rate));
            assert!(
                (mean - m).abs() < 0.03 * m,
                "{shape}/{rate}: mean {mean} vs {m}"
            );
            assert!(
                (var - v).abs() < 0.08 * v,
                "{shape}/{rate}: var {var} vs {v}"
            );
        }
    }
}
