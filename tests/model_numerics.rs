//! The network's layers against values worked out independently with numpy, and the batch-1 CPU
//! path against the candle network.
//!
//! The reference values come from this script (numpy 2.4, float64):
//! ```python
//! import numpy as np
//! sig = lambda v: 1/(1+np.exp(-v))
//! def w(f, r, c): return np.array([[f(i, j) for j in range(c)] for i in range(r)], dtype=np.float64)
//! I, H, T = 3, 2, 4
//! Wih_f = w(lambda i,j: np.sin(0.7*i+1.3*j)*0.5, 3*H, I); Whh_f = w(lambda i,j: np.cos(0.9*i-0.4*j)*0.5, 3*H, H)
//! bih_f = np.array([0.1*i-0.2 for i in range(3*H)]); bhh_f = np.array([0.05*(5-i) for i in range(3*H)])
//! Wih_b = w(lambda i,j: np.sin(0.3*i-0.5*j)*0.6, 3*H, I); Whh_b = w(lambda i,j: np.cos(1.1*i+0.2*j)*0.4, 3*H, H)
//! bih_b = np.array([0.03*i for i in range(3*H)]); bhh_b = np.array([-0.02*i for i in range(3*H)])
//! x = w(lambda t,k: np.sin(t+2*k), T, I)
//! def cell(x, h, Wih, Whh, bih, bhh):
//!     gx = Wih@x + bih; gh = Whh@h + bhh
//!     r = sig(gx[:H]+gh[:H]); z = sig(gx[H:2*H]+gh[H:2*H]); n = np.tanh(gx[2*H:]+r*gh[2*H:])
//!     return (1-z)*n + z*h
//! print("cell", cell(x[0], np.array([0.3,-0.2]), Wih_f, Whh_f, bih_f, bhh_f))
//! hf=np.zeros(H); fo=[]
//! for t in range(T): hf=cell(x[t],hf,Wih_f,Whh_f,bih_f,bhh_f); fo.append(hf)
//! hb=np.zeros(H); bo=[None]*T
//! for t in reversed(range(T)): hb=cell(x[t],hb,Wih_b,Whh_b,bih_b,bhh_b); bo[t]=hb
//! print("seq", np.array([np.concatenate([fo[t],bo[t]]) for t in range(T)]).flatten().tolist())
//! print("last", np.concatenate([fo[-1], bo[0]]).tolist())
//! D, T2, width = 3, 5, 3
//! xa = w(lambda t,d: np.cos(0.5*t+d), T2, D); Wa = w(lambda i,j: 0.3*np.sin(i+2*j)+0.1, D, D); ba = 0.2
//! e = sig(xa@Wa@xa.T + ba)
//! for t in range(T2):
//!     lower = t - width//2
//!     for u in range(T2):
//!         if not (lower <= u < lower+width): e[t,u] -= 10000
//! a = np.exp(e - e.max(axis=1, keepdims=True)); a /= a.sum(axis=1, keepdims=True)
//! print("att", (a@xa).flatten().tolist())
//! ```

#![allow(clippy::excessive_precision)] // reference values as numpy printed them

use std::collections::HashMap;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{VarBuilder, VarMap};
use continuo::model::layers::gru::{BiGru, BiOutput, GruWeights};
use continuo::model::seed::attention::SeqSelfAttention;
use continuo::model::seed::fast::{FastNetwork, Scratch};
use continuo::model::{Config, Network};

const CELL: [f32; 2] = [0.238484, -0.1465296];
const SEQ: [f32; 16] = [
    0.05138421578646592,
    -0.03237721652204872,
    0.2520803701070925,
    0.2630124205342181,
    0.2010318679541584,
    0.021628355209241886,
    0.20478502063050522,
    0.16311072303194016,
    0.3623260657195542,
    0.1719213673964068,
    0.062446536429323435,
    0.027456833619483915,
    0.3024269876514464,
    0.38930469080000707,
    -0.07046822868722895,
    -0.05832012030581305,
];
const LAST: [f32; 4] = [
    0.3024269876514464,
    0.38930469080000707,
    0.2520803701070925,
    0.2630124205342181,
];
const ATT: [f32; 15] = [
    0.9399170918841416,
    0.30983810529547967,
    -0.6051046064102154,
    0.8107831684346376,
    0.0750427493612387,
    -0.7296916273975133,
    0.49134674955668034,
    -0.38713850481558304,
    -0.9096904032410872,
    0.04035701420478979,
    -0.7503300975469691,
    -0.8511671779385771,
    -0.184922997701047,
    -0.9003071509910784,
    -0.7879530616390632,
];

fn matrix(rows: usize, cols: usize, f: impl Fn(f64, f64) -> f64) -> Tensor {
    let v: Vec<f32> = (0..rows * cols)
        .map(|k| f((k / cols) as f64, (k % cols) as f64) as f32)
        .collect();
    Tensor::from_vec(v, (rows, cols), &Device::Cpu).unwrap()
}

fn vector(n: usize, f: impl Fn(f64) -> f64) -> Tensor {
    Tensor::from_vec(
        (0..n).map(|i| f(i as f64) as f32).collect::<Vec<_>>(),
        n,
        &Device::Cpu,
    )
    .unwrap()
}

fn reference_bigru() -> BiGru {
    let (i, h) = (3, 2);
    let mut t = HashMap::new();
    t.insert(
        "fwd.weight_ih".to_string(),
        matrix(3 * h, i, |a, b| (0.7 * a + 1.3 * b).sin() * 0.5),
    );
    t.insert(
        "fwd.weight_hh".to_string(),
        matrix(3 * h, h, |a, b| (0.9 * a - 0.4 * b).cos() * 0.5),
    );
    t.insert("fwd.bias_ih".to_string(), vector(3 * h, |a| 0.1 * a - 0.2));
    t.insert(
        "fwd.bias_hh".to_string(),
        vector(3 * h, |a| 0.05 * (5.0 - a)),
    );
    t.insert(
        "bwd.weight_ih".to_string(),
        matrix(3 * h, i, |a, b| (0.3 * a - 0.5 * b).sin() * 0.6),
    );
    t.insert(
        "bwd.weight_hh".to_string(),
        matrix(3 * h, h, |a, b| (1.1 * a + 0.2 * b).cos() * 0.4),
    );
    t.insert("bwd.bias_ih".to_string(), vector(3 * h, |a| 0.03 * a));
    t.insert("bwd.bias_hh".to_string(), vector(3 * h, |a| -0.02 * a));
    BiGru::new(i, h, VarBuilder::from_tensors(t, DType::F32, &Device::Cpu)).unwrap()
}

fn reference_input() -> Tensor {
    matrix(4, 3, |t, k| (t + 2.0 * k).sin())
        .unsqueeze(0)
        .unwrap()
}

fn assert_close(got: &Tensor, want: &[f32], tol: f32) {
    let got = got.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() < tol,
            "element {i}: got {g}, want {w} (all: {got:?})"
        );
    }
}

#[test]
fn gru_cell_matches_numpy() {
    let gru = reference_bigru();
    let x = reference_input().get(0).unwrap().narrow(0, 0, 1).unwrap();
    let h = Tensor::new(&[[0.3f32, -0.2]], &Device::Cpu).unwrap();
    let cell: &GruWeights = &gru.forward;
    assert_close(&cell.step(&x, &h).unwrap(), &CELL, 1e-5);
}

#[test]
fn bidirectional_wiring_matches_numpy_fused_and_elementwise() {
    let gru = reference_bigru();
    let x = reference_input();
    for fused in [true, false] {
        assert_close(
            &gru.forward_with(&x, BiOutput::Sequence, fused).unwrap(),
            &SEQ,
            1e-5,
        );
        assert_close(
            &gru.forward_with(&x, BiOutput::LastStates, fused).unwrap(),
            &LAST,
            1e-5,
        );
    }
}

#[test]
fn attention_matches_numpy() {
    let mut t = HashMap::new();
    t.insert(
        "wa".to_string(),
        matrix(3, 3, |i, j| 0.3 * (i + 2.0 * j).sin() + 0.1),
    );
    t.insert("ba".to_string(), vector(1, |_| 0.2));
    let att =
        SeqSelfAttention::new(3, 3, VarBuilder::from_tensors(t, DType::F32, &Device::Cpu)).unwrap();
    let x = matrix(5, 3, |t, d| (0.5 * t + d).cos())
        .unsqueeze(0)
        .unwrap();
    assert_close(&att.forward(&x).unwrap(), &ATT, 1e-5);
}

fn random_network(config: &Config) -> Network {
    let varmap = VarMap::new();
    Network::new(
        config,
        VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
    )
    .unwrap()
}

/// The plain-Rust batch-1 path (AVX2 where present, and the portable build) computes what the
/// candle network computes, at the reference sizes with a random network.
#[test]
fn fast_cpu_path_equals_candle_network() {
    let config = Config {
        vocab_size: 300,
        ..Config::default()
    };
    let net = random_network(&config);
    let window: Vec<u32> = (0..config.window as u32)
        .map(|i| (i * 37 + 5) % 300)
        .collect();
    let ids = Tensor::from_slice(&window, (1, config.window), &Device::Cpu).unwrap();
    let want = net
        .forward(&ids)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let mut fast = FastNetwork::new(&net).unwrap();
    // The detected kernels, then AVX2 (where present), then portable.
    for round in 0..3 {
        let mut got = vec![0f32; config.vocab_size];
        fast.logits(&window, &mut Scratch::default(), &mut got);
        let worst = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            worst < 1e-4,
            "fast path ({}) differs from candle by {worst}",
            fast.kernels()
        );
        if round == 0 {
            fast.force_avx2();
        } else {
            fast.force_portable();
        }
    }
}

#[test]
fn fast_exp_is_accurate() {
    for i in -2000..2000 {
        let x = i as f32 * 0.04;
        let (got, want) = (continuo::model::kernels::math::exp(x), x.exp());
        assert!(
            ((got - want) / want).abs() < 2e-7,
            "exp({x}) = {got}, want {want}"
        );
    }
}
