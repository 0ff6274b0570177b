//! What training either model kind shares: the AdamW optimizer, the per-epoch log row, where the
//! checkpoint, CSV and plot go beside the model file, the loss plot, and the allocator setting
//! long runs need. Each kind's training loop is in its own module (`seed::train`,
//! `step::train`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Tensor, Var};
use candle_nn::VarMap;

/// One epoch's line of the CSV log.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochRow {
    pub epoch: usize,
    #[serde(deserialize_with = "super::file::nan_if_null")]
    pub train_loss: f64,
    #[serde(deserialize_with = "super::file::nan_if_null")]
    pub val_loss: f64,
    #[serde(deserialize_with = "super::file::nan_if_null")]
    pub val_accuracy: f64,
    #[serde(deserialize_with = "super::file::nan_if_null")]
    pub val_top5: f64,
    #[serde(deserialize_with = "super::file::nan_if_null")]
    pub windows_per_second: f64,
    #[serde(deserialize_with = "super::file::nan_if_null")]
    pub seconds: f64,
}

/// `<out>` with its extension replaced: `models/default.safetensors` → `models/default.<ext>`.
/// Early stopping: whether training should end after `epoch` epochs because validation has not
/// improved on epoch `best_epoch` for `patience` epochs (0 = never stop early). The best epoch
/// is already the model file, so stopping loses nothing but epochs that would not be kept.
pub fn patience_exhausted(epoch: usize, best_epoch: usize, patience: usize) -> bool {
    patience > 0 && epoch >= best_epoch + patience
}

pub fn sidecar(output: &Path, ext: &str) -> PathBuf {
    output.with_extension(ext)
}

pub fn checkpoint_path(output: &Path) -> PathBuf {
    sidecar(output, "checkpoint.safetensors")
}

/// AdamW with decoupled weight decay and global-norm clipping; unlike candle-nn's, its moments
/// can be saved and restored, so a resumed run continues exactly.
pub struct AdamW {
    vars: Vec<(String, Var)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    pub step: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub clip_norm: f64,
}

impl AdamW {
    const BETA1: f64 = 0.9;
    const BETA2: f64 = 0.999;
    const EPS: f64 = 1e-7;

    pub fn new(
        varmap: &VarMap,
        lr: f64,
        weight_decay: f64,
        clip_norm: f64,
    ) -> candle_core::Result<Self> {
        let mut vars: Vec<(String, Var)> = varmap
            .data()
            .lock()
            .expect("varmap lock")
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let m = vars
            .iter()
            .map(|(_, v)| v.zeros_like())
            .collect::<candle_core::Result<_>>()?;
        let v = vars
            .iter()
            .map(|(_, v)| v.zeros_like())
            .collect::<candle_core::Result<_>>()?;
        Ok(Self {
            vars,
            m,
            v,
            step: 0,
            lr,
            weight_decay,
            clip_norm,
        })
    }

    /// One update; returns the gradient norm before clipping.
    pub fn update(&mut self, loss: &Tensor) -> candle_core::Result<f64> {
        let grads = loss.backward()?;
        let fused = self
            .vars
            .iter()
            .all(|(_, v)| v.device().is_cpu() && v.dtype() == DType::F32);
        self.apply(&grads, fused)
    }

    /// One step from the gradients of the shares of a batch that data-parallel workers computed
    /// (see [`super::workers`]): each share's loss is the mean over its windows, so the
    /// gradient of the whole batch's mean loss is Σ weight × gradient with weight = the share's
    /// fraction of the batch. One share of weight 1 is exactly [`AdamW::update`].
    pub fn update_from_shares(
        &mut self,
        shares: &[(candle_core::backprop::GradStore, f64)],
    ) -> candle_core::Result<f64> {
        let fused = self
            .vars
            .iter()
            .all(|(_, v)| v.device().is_cpu() && v.dtype() == DType::F32);
        let gs: Vec<Option<Tensor>> = self
            .vars
            .iter()
            .map(|(_, var)| {
                let mut sum: Option<Tensor> = None;
                for (grads, weight) in shares {
                    let Some(g) = grads.get(var.as_tensor()) else {
                        continue;
                    };
                    let g = if *weight == 1.0 {
                        g.detach()
                    } else {
                        (g.detach() * *weight)?
                    };
                    sum = Some(match sum {
                        None => g,
                        Some(s) => (s + g)?,
                    });
                }
                Ok(sum)
            })
            .collect::<candle_core::Result<_>>()?;
        self.apply_gradients(gs, fused)
    }

    /// The update from computed gradients. `fused`: one plain loop per variable over its
    /// elements (CPU, f32) instead of a dozen candle ops, each a pass over the variable with its
    /// own allocation and thread hand-off; same arithmetic, in f32 with the same constants.
    pub(crate) fn apply(
        &mut self,
        grads: &candle_core::backprop::GradStore,
        fused: bool,
    ) -> candle_core::Result<f64> {
        // Detached: candle leaves the gradients of variables attached to the forward graph, and
        // moments computed from them would keep every past batch's graph alive (24 GB OOM).
        let gs: Vec<Option<Tensor>> = self
            .vars
            .iter()
            .map(|(_, var)| grads.get(var.as_tensor()).map(|g| g.detach()))
            .collect();
        self.apply_gradients(gs, fused)
    }

    /// The update from one detached gradient per variable (None: the variable got none).
    fn apply_gradients(
        &mut self,
        gs: Vec<Option<Tensor>>,
        fused: bool,
    ) -> candle_core::Result<f64> {
        if fused {
            return self.apply_fused(&gs);
        }
        let mut sq = 0f64;
        for g in gs.iter().flatten() {
            sq += g
                .sqr()?
                .sum_all()?
                .to_dtype(DType::F64)?
                .to_scalar::<f64>()?;
        }
        let norm = sq.sqrt();
        let scale = self.clip_scale(norm);
        self.step += 1;
        let (c1, c2) = self.bias_corrections();
        for (i, (_, var)) in self.vars.iter().enumerate() {
            let Some(g) = &gs[i] else { continue };
            let g = if scale < 1.0 { (g * scale)? } else { g.clone() };
            self.m[i] = ((&self.m[i] * Self::BETA1)? + (&g * (1.0 - Self::BETA1))?)?;
            self.v[i] = ((&self.v[i] * Self::BETA2)? + (g.sqr()? * (1.0 - Self::BETA2))?)?;
            let update = ((&self.m[i] / c1)? / ((&self.v[i] / c2)?.sqrt()? + Self::EPS)?)?;
            let decayed = (var.as_tensor() * (1.0 - self.lr * self.weight_decay))?;
            var.set(&(decayed - (update * self.lr)?)?)?;
        }
        Ok(norm)
    }

    /// The factor the gradients are scaled by for a global norm of `norm`.
    fn clip_scale(&self, norm: f64) -> f64 {
        if self.clip_norm > 0.0 && norm > self.clip_norm {
            self.clip_norm / norm
        } else {
            1.0
        }
    }

    /// Adam's bias corrections `1 - β^t` at the current step.
    fn bias_corrections(&self) -> (f64, f64) {
        let t = self.step as i32;
        (1.0 - Self::BETA1.powi(t), 1.0 - Self::BETA2.powi(t))
    }

    fn apply_fused(&mut self, gs: &[Option<Tensor>]) -> candle_core::Result<f64> {
        let flat = |t: &Tensor| t.flatten_all().and_then(|t| t.to_vec1::<f32>());
        let gs: Vec<Option<Vec<f32>>> = gs
            .iter()
            .map(|g| g.as_ref().map(flat).transpose())
            .collect::<candle_core::Result<_>>()?;
        // Each variable's Σg² in f32 (as `sum_all` does), added up in f64.
        let sq: f64 = gs
            .iter()
            .flatten()
            .map(|g| g.iter().map(|x| x * x).sum::<f32>() as f64)
            .sum();
        let norm = sq.sqrt();
        let scale = self.clip_scale(norm);
        self.step += 1;
        let (c1, c2) = self.bias_corrections();
        // The scalars as candle's affine ops use them: cast to f32, division as multiplication.
        let (b1, nb1) = (Self::BETA1 as f32, (1.0 - Self::BETA1) as f32);
        let (b2, nb2) = (Self::BETA2 as f32, (1.0 - Self::BETA2) as f32);
        let (ic1, ic2) = ((1.0 / c1) as f32, (1.0 / c2) as f32);
        let (eps, lr) = (Self::EPS as f32, self.lr as f32);
        let decay = (1.0 - self.lr * self.weight_decay) as f32;
        let scale = (scale < 1.0).then_some(scale as f32);
        for (i, (_, var)) in self.vars.iter().enumerate() {
            let Some(g) = &gs[i] else { continue };
            let (mut m, mut v, mut p) = (flat(&self.m[i])?, flat(&self.v[i])?, flat(var)?);
            for (((g, m), v), p) in g.iter().zip(&mut m).zip(&mut v).zip(&mut p) {
                let g = scale.map_or(*g, |s| g * s);
                *m = *m * b1 + g * nb1;
                *v = *v * b2 + g * g * nb2;
                let update = (*m * ic1) / ((*v * ic2).sqrt() + eps);
                *p = *p * decay - update * lr;
            }
            let (shape, dev) = (var.shape(), var.device());
            self.m[i] = Tensor::from_vec(m, shape, dev)?;
            self.v[i] = Tensor::from_vec(v, shape, dev)?;
            var.set(&Tensor::from_vec(p, shape, dev)?)?;
        }
        Ok(norm)
    }

    /// The moments as named tensors (`adamw.m.<var>`, `adamw.v.<var>`).
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::with_capacity(2 * self.vars.len());
        for (i, (name, _)) in self.vars.iter().enumerate() {
            out.push((format!("adamw.m.{name}"), self.m[i].clone()));
            out.push((format!("adamw.v.{name}"), self.v[i].clone()));
        }
        out
    }

    /// Restores moments saved by [`AdamW::state`] (names without the `adamw.` prefix).
    pub fn restore(&mut self, saved: &HashMap<String, Tensor>, step: usize) -> Result<(), String> {
        for (i, (name, var)) in self.vars.iter().enumerate() {
            for (kind, slot) in [("m", &mut self.m[i]), ("v", &mut self.v[i])] {
                let t = saved
                    .get(&format!("{kind}.{name}"))
                    .ok_or_else(|| format!("checkpoint lacks optimizer state for {name}"))?;
                if t.dims() != var.dims() {
                    return Err(format!(
                        "checkpoint optimizer state for {name} has the wrong shape"
                    ));
                }
                *slot = t.clone();
            }
        }
        self.step = step;
        Ok(())
    }
}

/// The var map's variables by name, sorted (for a model file, and for comparing two runs).
pub fn named_tensors(varmap: &VarMap) -> Vec<(String, Tensor)> {
    let mut out: Vec<(String, Tensor)> = varmap
        .data()
        .lock()
        .expect("varmap lock")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Test support: asserts two runs' weights (from [`named_tensors`]) agree within `tolerance`,
/// variable by variable.
#[cfg(test)]
pub(crate) fn assert_same_weights(a: &[(String, Tensor)], b: &[(String, Tensor)], tolerance: f32) {
    assert_eq!(a.len(), b.len(), "variable counts");
    for ((name, x), (other, y)) in a.iter().zip(b) {
        assert_eq!(name, other);
        let diff = (x - y)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff < tolerance, "{name}: {diff}");
    }
}

/// Makes the allocator keep freed memory for reuse instead of handing it back to the system.
///
/// Why: a training step allocates and frees hundreds of megabytes in tensors of up to ~20 MB.
/// With glibc's defaults, blocks that large are mapped and unmapped one by one and the heap top
/// is trimmed, so every step page-faults and zeroes its memory afresh (~12% of the time in a
/// profile of a training run). Raising the mmap threshold to its maximum (32 MB) and the trim
/// threshold far above a step's working set makes them reuse the heap.
///
/// And one arena for every thread: each data-parallel worker thread would get an arena of its
/// own, whose heaps glibc shrinks and unmaps as they empty, so the workers page-faulted through
/// their activations every step anyway (1.27 M page faults in 15 s of 2-worker training, 8 % of
/// a step in `perf`; with one arena 92 K). A step allocates a few thousand blocks, so sharing
/// the arena's lock costs little: alternating 3 runs each, batch 128 ran 336 against 293
/// windows/s at the median, batch 500 354 against 335. Call it before the worker threads start.
/// A no-op off glibc.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // Safety: mallopt only changes the allocator's tuning parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Registers the font plotters draws text with (it has none of its own with `ab_glyph`).
fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(
            "sans-serif",
            plotters::style::FontStyle::Normal,
            epaint_default_fonts::UBUNTU_LIGHT,
        );
    });
}

/// The loss curves as a PNG: training loss (points through each epoch) and validation loss per
/// epoch, in nats per step.
///
/// Drawn into `<name>.partial.png` beside `path` and renamed over it when complete, so a failed
/// or interrupted plot leaves the previous one.
pub fn plot(path: &Path, curve: &[(f64, f64)], rows: &[EpochRow]) -> Result<(), String> {
    crate::fs_safe::replace_with(path, |partial| draw_plot(partial, curve, rows))
}

fn draw_plot(path: &Path, curve: &[(f64, f64)], rows: &[EpochRow]) -> Result<(), String> {
    use plotters::prelude::*;
    register_font();
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let root = BitMapBackend::new(path, (900, 540)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let values: Vec<f64> = curve
        .iter()
        .map(|p| p.1)
        .chain(rows.iter().map(|r| r.val_loss))
        .filter(|v| v.is_finite())
        .collect();
    let (lo, hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let (lo, hi) = if lo.is_finite() {
        (lo * 0.95, hi * 1.05 + 1e-6)
    } else {
        (0.0, 1.0)
    };
    let x_max = curve
        .iter()
        .map(|p| p.0)
        .chain(rows.iter().map(|r| r.epoch as f64))
        .fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Continuo training: loss (nats per step)",
            ("sans-serif", 24),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max, lo..hi)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("loss")
        .label_style(("sans-serif", 15))
        .draw()
        .map_err(|e| err(&e))?;
    chart
        .draw_series(LineSeries::new(
            // Older checkpoints also put each epoch's mean on the curve; it is drawn as a dot.
            curve.iter().copied().filter(|&(x, y)| {
                !rows
                    .iter()
                    .any(|r| r.epoch as f64 == x && r.train_loss == y)
            }),
            BLUE.stroke_width(2),
        ))
        .map_err(|e| err(&e))?
        .label("training")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    let val: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| r.val_loss.is_finite())
        .map(|r| (r.epoch as f64, r.val_loss))
        .collect();
    chart
        .draw_series(LineSeries::new(val.iter().copied(), RED.stroke_width(2)))
        .map_err(|e| err(&e))?
        .label("validation")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
    chart
        .draw_series(val.iter().map(|&p| Circle::new(p, 4, RED.filled())))
        .map_err(|e| err(&e))?;
    chart
        .draw_series(
            rows.iter()
                .filter(|r| r.train_loss.is_finite())
                .map(|r| Circle::new((r.epoch as f64, r.train_loss), 4, BLUE.filled())),
        )
        .map_err(|e| err(&e))?
        .label("training, epoch mean (with dropout)")
        .legend(|(x, y)| Circle::new((x + 10, y), 4, BLUE.filled()));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patience_counts_epochs_since_the_best() {
        assert!(!patience_exhausted(5, 3, 0), "0 never stops");
        assert!(!patience_exhausted(5, 3, 3));
        assert!(patience_exhausted(6, 3, 3));
        assert!(patience_exhausted(7, 3, 3));
        assert!(!patience_exhausted(6, 6, 1));
        assert!(patience_exhausted(7, 6, 1));
    }
}
