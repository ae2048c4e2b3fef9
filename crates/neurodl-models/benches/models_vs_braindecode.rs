//! Speed benchmark: neurodl-models on Burn's `flex` CPU backend vs braindecode 1.8 on PyTorch
//! CPU, same models, shapes, batch and thread count, in the same run.
//!
//! `cargo bench -p neurodl-models --bench models_vs_braindecode` measures, for ShallowFBCSPNet
//! and EEGNet with braindecode's defaults (22 channels x 1125 samples, 4 classes):
//!
//! * train step: forward + cross-entropy + backward + AdamW on a batch of 64;
//! * inference: eval-mode forward of the same batch;
//! * single trial: eval-mode forward of one trial (latency);
//!
//! then runs `benches/python/models_braindecode.py` with the same protocol and prints the
//! medians and the neurodl/PyTorch time ratios (below 1: neurodl is faster).
//!
//! Python: `$NEURODL_PYTHON` (a venv with `tests/reference/requirements-models.txt`), else
//! `.venv-ref/bin/python` at the repository root, else `python3`; without braindecode the Rust
//! numbers are printed alone. Threads: all cores on both sides (Burn's rayon pool; PyTorch's
//! `set_num_threads`). The bench binary uses the mimalloc allocator: burn-flex allocates a
//! fresh buffer per intermediate, and glibc's mmap/munmap of large blocks cost 1.5-2.4x in
//! training steps (see the shared notes on Burn's CPU backends).

use std::time::Instant;

use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use neurodl_io::testdata::{median, run_reference_script};
use neurodl_models::{EEGNetConfig, EegModel, ShallowFBCSPNetConfig, SignalShape};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 64;
const REPEATS: usize = 7;
const SINGLE_REPEATS: usize = 50;

fn timed(warmup: usize, repeats: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..warmup {
        f();
    }
    let times = (0..repeats)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    median(times)
}

fn cross_entropy(logits: Tensor<2>, target: Tensor<2, Int>) -> Tensor<1> {
    log_softmax(logits, 1).gather(1, target).mean().neg()
}

struct Timings {
    train_step_ms: f64,
    inference_ms: f64,
    single_trial_ms: f64,
}

fn bench<M: EegModel>(build: impl Fn(&Device) -> M) -> Timings {
    let signal_device = Device::default().autodiff();
    let mut model = build(&signal_device);
    let x = Tensor::<3>::random([BATCH, 22, 1125], Distribution::Normal(0.0, 1.0), &signal_device);
    let target: Vec<i64> = (0..BATCH as i64).map(|i| i % 4).collect();
    let target: Tensor<2, Int> = Tensor::from_data(TensorData::new(target, [BATCH, 1]), &signal_device);
    let mut optim = AdamWConfig::new()
        .with_epsilon(1e-8)
        .with_weight_decay(0.01)
        .init();
    let mut slot = Some(model);
    let train_step_ms = timed(2, REPEATS, || {
        let m = slot.take().expect("model");
        let loss = cross_entropy(m.forward(x.clone()).expect("forward"), target.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &m);
        slot = Some(optim.step(1e-3, m, grads));
    });
    model = slot.take().expect("model");
    let eval = model.valid();
    let device = Device::default();
    let xb = Tensor::<3>::random([BATCH, 22, 1125], Distribution::Normal(0.0, 1.0), &device);
    let inference_ms = timed(2, REPEATS, || {
        std::hint::black_box(eval.forward(xb.clone()).expect("forward").into_data());
    });
    // A trial of its own, as the Python side's `x[:1].clone()` (a view into the batch would
    // make every element-wise op take Burn's copying path for shared storage).
    let x1 = Tensor::<3>::from_data(xb.narrow(0, 0, 1).into_data(), &device);
    let single_trial_ms = timed(10, SINGLE_REPEATS, || {
        std::hint::black_box(eval.forward(x1.clone()).expect("forward").into_data());
    });
    Timings {
        train_step_ms,
        inference_ms,
        single_trial_ms,
    }
}

fn main() {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let signal = SignalShape::new(22, 4, 1125).with_sfreq(250.0);
    let ours = [
        (
            "ShallowFBCSPNet",
            bench(|d| ShallowFBCSPNetConfig::default().init(&signal, d).expect("build")),
        ),
        (
            "EEGNet",
            bench(|d| EEGNetConfig::default().init(&signal, d).expect("build")),
        ),
    ];
    println!("neurodl-models (Burn flex, mimalloc, {threads} threads), batch {BATCH} x 22 x 1125, medians:");
    for (name, t) in &ours {
        println!(
            "  {name:<16} train step {:8.1} ms   inference {:8.1} ms   single trial {:6.2} ms",
            t.train_step_ms, t.inference_ms, t.single_trial_ms
        );
    }
    let reference = run_reference_script(
        "benches/python/models_braindecode.py",
        &["--threads".as_ref(), threads.to_string().as_ref()],
        "braindecode",
    );
    let Some(reference) = reference else {
        println!(
            "(no braindecode comparison: set NEURODL_PYTHON to a venv with tests/reference/requirements-models.txt)"
        );
        return;
    };
    println!(
        "braindecode {} on PyTorch {} ({threads} threads), same protocol:",
        reference["braindecode"].as_str().unwrap_or("?"),
        reference["torch"].as_str().unwrap_or("?")
    );
    let mut rows = Vec::new();
    for (name, t) in &ours {
        let r = &reference["results"][name];
        let get = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
        let (rt, ri, rs) = (get("train_step_ms"), get("inference_ms"), get("single_trial_ms"));
        println!("  {name:<16} train step {rt:8.1} ms   inference {ri:8.1} ms   single trial {rs:6.2} ms");
        println!(
            "  {:<16} ratio neurodl/PyTorch: train {:.2}x   inference {:.2}x   single trial {:.2}x",
            "",
            t.train_step_ms / rt,
            t.inference_ms / ri,
            t.single_trial_ms / rs
        );
        rows.push(serde_json::json!({
            "model": name,
            "neurodl": {"train_step_ms": t.train_step_ms, "inference_ms": t.inference_ms, "single_trial_ms": t.single_trial_ms},
            "braindecode": r,
            "ratio": {"train_step": t.train_step_ms / rt, "inference": t.inference_ms / ri, "single_trial": t.single_trial_ms / rs},
        }));
    }
    println!(
        "{}",
        serde_json::json!({"bench": "models_vs_braindecode", "threads": threads, "batch": BATCH, "results": rows})
    );
}
