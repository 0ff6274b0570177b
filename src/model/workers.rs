//! Data-parallel training for either model kind: a batch is cut into one share per worker, each
//! worker computes its share's loss and gradients on its own core, and one AdamW step applies
//! their sum weighted by share size, the gradient of the whole batch's mean loss up to rounding.
//!
//! Why: at the sizes Continuo trains, the matrix products are too small to split well over two
//! cores (the threads wait for each other at every product; a step-model step on two threads
//! was slower than on one), while halves of a batch need no hand-off until the gradients are
//! summed. Each worker has a one-thread rayon pool, so candle's own parallel loops stay on its
//! core; run with `device::set_threads(1)` so the products inside are serial too.

use candle_core::backprop::GradStore;

use super::training::AdamW;

/// One piece of a worker's share: its mean loss, its gradients, and its weight (its fraction
/// of the batch, by whatever the loss averages over: windows, or real steps).
pub struct Share {
    pub loss: f64,
    pub grads: GradStore,
    pub weight: f64,
}

/// The workers: one thread each (one worker runs on the calling thread).
pub struct Workers {
    pools: Vec<rayon::ThreadPool>,
}

impl Workers {
    /// `count` workers (0 is taken as 1).
    pub fn new(count: usize) -> Result<Self, String> {
        let pools = (0..count.max(1))
            .filter(|_| count > 1)
            .map(|i| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .thread_name(move |_| format!("continuo-train-{i}"))
                    .build()
                    .map_err(|e| format!("cannot start a training worker: {e}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { pools })
    }

    pub fn count(&self) -> usize {
        self.pools.len().max(1)
    }

    /// One AdamW step: `share(i)` for `i` in `0..shares` (at most [`Workers::count`]), worker `i`
    /// computing share `i`, then the update from all their gradients; returns the batch's loss,
    /// Σ weight × loss.
    pub fn step<F>(&self, opt: &mut AdamW, shares: usize, share: F) -> candle_core::Result<f64>
    where
        F: Fn(usize) -> candle_core::Result<Vec<Share>> + Sync,
    {
        let k = shares.clamp(1, self.count());
        let results: Vec<candle_core::Result<Vec<Share>>> = if k == 1 {
            // On the calling thread, with whatever parallelism candle has there.
            vec![share(0)]
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = (1..k)
                    .map(|i| {
                        let (pool, share) = (&self.pools[i], &share);
                        s.spawn(move || pool.install(|| share(i)))
                    })
                    .collect();
                let mut results = vec![self.pools[0].install(|| share(0))];
                for h in handles {
                    results.push(h.join().unwrap_or_else(|_| {
                        Err(candle_core::Error::Msg("a training worker panicked".into()))
                    }));
                }
                results
            })
        };
        let mut loss = 0.0;
        let mut grads = Vec::with_capacity(k);
        for r in results {
            for part in r? {
                loss += part.loss * part.weight;
                grads.push((part.grads, part.weight));
            }
        }
        opt.update_from_shares(&grads)?;
        Ok(loss)
    }
}
