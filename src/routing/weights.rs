//! Weighted rotation: candidates drawn one at a time without replacement, each
//! with a probability proportional to its weight among those not drawn yet.
//! Drawing lazily is what spreads an ineligible offer's share over the others
//! in proportion to their weights: when the drawn offer fails, the next draw
//! is made among the rest.

use rand::{Rng, RngExt};

#[derive(Debug, Clone)]
pub struct WeightedDraw {
    /// (candidate index, weight) of those not drawn yet; zero weights are left
    /// out, so an offer with weight 0 takes no traffic.
    remaining: Vec<(usize, u64)>,
    total: u64,
}

impl WeightedDraw {
    pub fn new(weights: impl IntoIterator<Item = u32>) -> Self {
        let remaining: Vec<(usize, u64)> = weights
            .into_iter()
            .enumerate()
            .filter(|&(_, w)| w > 0)
            .map(|(i, w)| (i, u64::from(w)))
            .collect();
        let total = remaining.iter().map(|&(_, w)| w).sum();
        Self { remaining, total }
    }

    /// The next candidate's index; `None` once every weighted candidate was drawn.
    pub fn draw(&mut self, rng: &mut impl Rng) -> Option<usize> {
        if self.total == 0 {
            return None;
        }
        let mut point = rng.random_range(0..self.total);
        let position = self.remaining.iter().position(|&(_, weight)| {
            if point < weight {
                true
            } else {
                point -= weight;
                false
            }
        })?;
        let (index, weight) = self.remaining.swap_remove(position);
        self.total -= weight;
        Some(index)
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    use super::*;

    #[test]
    fn every_weighted_candidate_is_drawn_once() {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut draw = WeightedDraw::new([3, 0, 1, 5]);
        let mut seen = Vec::new();
        while let Some(i) = draw.draw(&mut rng) {
            seen.push(i);
        }
        seen.sort_unstable();
        assert_eq!(seen, vec![0, 2, 3]);
    }

    #[test]
    fn all_zero_weights_draw_nothing() {
        let mut rng = SmallRng::seed_from_u64(7);
        assert_eq!(WeightedDraw::new([0, 0]).draw(&mut rng), None);
    }

    #[test]
    fn first_draw_follows_the_weights() {
        let mut rng = SmallRng::seed_from_u64(11);
        let mut counts = [0u32; 2];
        for _ in 0..10_000 {
            if let Some(i) = WeightedDraw::new([90, 10]).draw(&mut rng) {
                counts[i] += 1;
            }
        }
        assert!((8_800..=9_200).contains(&counts[0]), "{counts:?}");
    }
}
