//! Overlap-save on the host for Burn's CPU backend: `realfft` transforms and one vectorised
//! complex multiply-accumulate, with the data copied out of and back into tensors once.
//!
//! Why not the matrix route of the parent module on the CPU: there the transforms are dense
//! `L × L` products (O(L) per sample), half of the multiply-adds; real FFTs cost O(log L), so
//! blocks can be longer (fewer frequencies per output) and the channel mixing dominates, which
//! runs here as split real/imaginary FMA loops (AVX2 + FMA when the CPU has them).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use burn::tensor::{Tensor, TensorData};
use rayon::prelude::*;
use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

struct Plans {
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
}

fn plans(block: usize) -> Arc<Plans> {
    static CACHE: OnceLock<Mutex<HashMap<usize, Arc<Plans>>>> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    cache
        .entry(block)
        .or_insert_with(|| {
            let mut planner = RealFftPlanner::<f32>::new();
            Arc::new(Plans {
                forward: planner.plan_fft_forward(block),
                inverse: planner.plan_fft_inverse(block),
            })
        })
        .clone()
}

/// Estimated cost of overlap-save with real FFTs of `block` samples, in multiply-add
/// equivalents (an FFT of `L` taken as `L log2 L`): the kernels' spectra (recomputed each call),
/// the blocks' forward and inverse transforms, and the per-frequency channel mixing.
fn cost(in_chans: usize, out_chans: usize, kernel: usize, t: usize, block: usize) -> usize {
    let fft = block * block.trailing_zeros() as usize;
    let n_blocks = (t - kernel + 1).div_ceil(block - kernel + 1);
    let n_freqs = block / 2 + 1;
    out_chans * in_chans * fft
        + n_blocks * ((in_chans + out_chans) * fft + 4 * n_freqs * out_chans * in_chans)
}

/// The block length at which the host route costs least (blocks from twice the kernel to the
/// signal plus a kernel), if [`super::cheapest_block`] finds it worth it.
pub(crate) fn cheaper_block(in_chans: usize, out_chans: usize, kernel: usize, t: usize) -> Option<usize> {
    super::cheapest_block(
        [in_chans, out_chans, kernel, t],
        (2 * kernel).next_power_of_two(),
        (t + kernel).next_power_of_two(),
        |block| cost(in_chans, out_chans, kernel, t, block),
    )
}

/// Frequencies are stored in rows of a multiple of this many (zero-padded), one AVX register.
const LANES: usize = 8;

fn padded_freqs(block: usize) -> usize {
    (block / 2 + 1).next_multiple_of(LANES)
}

fn lanes(v: &[f32], at: usize) -> &[f32; LANES] {
    v[at..at + LANES].try_into().expect("rows are whole registers")
}

/// Spectra of one output channel, `y[block] = Σ_c w[c] · x[c][block]` (complex, split
/// parts). Layouts, with `F` padded to whole registers: `w` `[in, F]`, `x` `[in, blocks, F]`,
/// `y` `[blocks, F]`. Two blocks and one register of frequencies at a time, summed over the
/// input channels in registers: six loads per eight multiply-adds, one store per result.
#[inline(always)]
fn mix_channel<const FMA: bool>(
    y: (&mut [f32], &mut [f32]),
    w: (&[f32], &[f32]),
    x: (&[f32], &[f32]),
    n_freqs: usize,
) {
    let madd = |a: f32, b: f32, c: f32| if FMA { a.mul_add(b, c) } else { a * b + c };
    let (y_re, y_im) = y;
    let n_blocks = y_re.len() / n_freqs;
    let in_chans = w.0.len() / n_freqs;
    for first in (0..n_blocks).step_by(2) {
        // An odd last block is computed twice and stored once.
        let second = (first + 1).min(n_blocks - 1);
        for f in (0..n_freqs).step_by(LANES) {
            let mut acc = [[0.0f32; LANES]; 4];
            for c in 0..in_chans {
                let (wr, wi) = (lanes(w.0, c * n_freqs + f), lanes(w.1, c * n_freqs + f));
                let row = |blk: usize| (c * n_blocks + blk) * n_freqs + f;
                let (ar, ai) = (lanes(x.0, row(first)), lanes(x.1, row(first)));
                let (br, bi) = (lanes(x.0, row(second)), lanes(x.1, row(second)));
                for l in 0..LANES {
                    acc[0][l] = madd(wr[l], ar[l], madd(-wi[l], ai[l], acc[0][l]));
                    acc[1][l] = madd(wr[l], ai[l], madd(wi[l], ar[l], acc[1][l]));
                    acc[2][l] = madd(wr[l], br[l], madd(-wi[l], bi[l], acc[2][l]));
                    acc[3][l] = madd(wr[l], bi[l], madd(wi[l], br[l], acc[3][l]));
                }
            }
            let at = |blk: usize| blk * n_freqs + f..blk * n_freqs + f + LANES;
            y_re[at(first)].copy_from_slice(&acc[0]);
            y_im[at(first)].copy_from_slice(&acc[1]);
            if second != first {
                y_re[at(second)].copy_from_slice(&acc[2]);
                y_im[at(second)].copy_from_slice(&acc[3]);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn mix_channel_avx2(y: (&mut [f32], &mut [f32]), w: (&[f32], &[f32]), x: (&[f32], &[f32]), n_freqs: usize) {
    mix_channel::<true>(y, w, x, n_freqs)
}

fn mix_channel_dispatch(
    y: (&mut [f32], &mut [f32]),
    w: (&[f32], &[f32]),
    x: (&[f32], &[f32]),
    n_freqs: usize,
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has both features, checked just above.
        return unsafe { mix_channel_avx2(y, w, x, n_freqs) };
    }
    mix_channel::<false>(y, w, x, n_freqs)
}

/// Working memory for transforming one block at a time: a block of samples, its spectrum,
/// the FFT's scratch.
struct FftBuffers {
    samples: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
}

impl FftBuffers {
    fn new(plans: &Plans) -> Self {
        Self {
            samples: vec![0.0; plans.forward.len()],
            spectrum: plans.forward.make_output_vec(),
            scratch: vec![
                Complex::default();
                plans
                    .forward
                    .get_scratch_len()
                    .max(plans.inverse.get_scratch_len())
            ],
        }
    }

    /// Real FFT of `signal` zero-padded to the block, into split parts (`re` and `im` may be
    /// longer than the spectrum: the rest is left alone).
    fn forward(&mut self, plans: &Plans, signal: &[f32], re: &mut [f32], im: &mut [f32]) {
        self.samples[..signal.len()].copy_from_slice(signal);
        self.samples[signal.len()..].fill(0.0);
        plans
            .forward
            .process_with_scratch(&mut self.samples, &mut self.spectrum, &mut self.scratch)
            .expect("buffer lengths are the plan's");
        for ((z, r), i) in self.spectrum.iter().zip(re.iter_mut()).zip(im.iter_mut()) {
            *r = z.re;
            *i = z.im;
        }
    }

    /// Inverse real FFT (unnormalised) of the spectrum in split parts, into `self.samples`.
    fn inverse(&mut self, plans: &Plans, re: &[f32], im: &[f32]) -> &[f32] {
        for (z, (&re, &im)) in self.spectrum.iter_mut().zip(re.iter().zip(im)) {
            *z = Complex::new(re, im);
        }
        // Exactly real already (products of real DC and Nyquist terms); made explicit for the
        // inverse transform's check.
        let last = self.spectrum.len() - 1;
        self.spectrum[0].im = 0.0;
        self.spectrum[last].im = 0.0;
        plans
            .inverse
            .process_with_scratch(&mut self.spectrum, &mut self.samples, &mut self.scratch)
            .expect("buffer lengths are the plan's");
        &self.samples
    }
}

/// The reversed kernels' spectra, `[out·in, F]` in split parts (correlation is convolution
/// with the reversed kernel).
struct KernelSpectra {
    block: usize,
    taps: Vec<f32>,
    re: Vec<f32>,
    im: Vec<f32>,
}

/// The spectra of `taps` (`[out·in, kernel]`), from a small process-wide cache keyed by the
/// exact tap values: a model predicting trial after trial transforms its 880 kernels once
/// instead of every call (a sixth of ShallowFBCSPNet's single-trial latency). Weights that
/// change (training, loading) simply miss.
fn kernel_spectra(plans: &Plans, taps: &[f32], kernel: usize, block: usize) -> Arc<KernelSpectra> {
    const ENTRIES: usize = 4;
    static CACHE: OnceLock<Mutex<Vec<Arc<KernelSpectra>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let same = |e: &KernelSpectra| {
        e.block == block
            && e.taps.len() == taps.len()
            && e.taps.iter().zip(taps).all(|(a, b)| a.to_bits() == b.to_bits())
    };
    {
        let mut entries = cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = entries.iter().position(|e| same(e)) {
            let hit = entries.remove(i);
            entries.push(hit.clone());
            return hit;
        }
    }
    let stride = padded_freqs(block);
    let n_kernels = taps.len() / kernel;
    let mut buffers = FftBuffers::new(plans);
    let mut re = vec![0.0f32; n_kernels * stride];
    let mut im = vec![0.0f32; n_kernels * stride];
    let mut reversed = vec![0.0f32; kernel];
    for ((re, im), tap) in re
        .chunks_exact_mut(stride)
        .zip(im.chunks_exact_mut(stride))
        .zip(taps.chunks_exact(kernel))
    {
        reversed
            .iter_mut()
            .zip(tap.iter().rev())
            .for_each(|(r, &w)| *r = w);
        buffers.forward(plans, &reversed, re, im);
    }
    let entry = Arc::new(KernelSpectra {
        block,
        taps: taps.to_vec(),
        re,
        im,
    });
    let mut entries = cache.lock().unwrap_or_else(|e| e.into_inner());
    if entries.len() == ENTRIES {
        entries.remove(0);
    }
    entries.push(entry.clone());
    entry
}

/// [`super::conv1d_overlap_save`] on the host, for tensors on Burn's CPU backend; `None` when
/// the tensors cannot be read as f32 (the caller then convolves directly).
pub(crate) fn conv1d_overlap_save(
    x: &Tensor<3>,
    weight: &Tensor<3>,
    bias: Option<&Tensor<1>>,
    block: usize,
) -> Option<Tensor<3>> {
    let [batch, in_chans, t] = x.dims();
    let [out_chans, _, kernel] = weight.dims();
    let t_out = t - kernel + 1;
    let hop = block - kernel + 1;
    let n_blocks = t_out.div_ceil(hop);
    let n_freqs = block / 2 + 1;
    let stride = padded_freqs(block);
    let input = x.clone().into_data().try_into_vec_as::<f32>().ok()?;
    let taps = weight.clone().into_data().try_into_vec_as::<f32>().ok()?;
    let bias = match bias {
        Some(b) => Some(b.clone().into_data().try_into_vec_as::<f32>().ok()?),
        None => None,
    };
    let plans = &plans(block);
    let spectra = kernel_spectra(plans, &taps, kernel, block);
    let (w_re, w_im) = (&spectra.re, &spectra.im);
    let scale = 1.0 / block as f32;

    // Per trial: the blocks' spectra `[in, blocks, F]` and one output channel's `[blocks, F]`.
    let trial_buffers = || {
        let blocks = vec![0.0f32; in_chans * n_blocks * stride];
        let mixed = vec![0.0f32; n_blocks * stride];
        (
            FftBuffers::new(plans),
            [blocks.clone(), blocks],
            [mixed.clone(), mixed],
        )
    };
    type TrialBuffers = (FftBuffers, [Vec<f32>; 2], [Vec<f32>; 2]);
    let convolve_trial = |(fft, [x_re, x_im], [y_re, y_im]): &mut TrialBuffers,
                          (trial, out): (&[f32], &mut [f32])| {
        for ((re, im), channel) in x_re
            .chunks_exact_mut(n_blocks * stride)
            .zip(x_im.chunks_exact_mut(n_blocks * stride))
            .zip(trial.chunks_exact(t))
        {
            for blk in 0..n_blocks {
                let segment = &channel[blk * hop..(blk * hop + block).min(t)];
                let row = blk * stride..(blk + 1) * stride;
                fft.forward(plans, segment, &mut re[row.clone()], &mut im[row]);
            }
        }
        for (o, out_row) in out.chunks_exact_mut(t_out).enumerate() {
            let w = o * in_chans * stride..(o + 1) * in_chans * stride;
            mix_channel_dispatch((y_re, y_im), (&w_re[w.clone()], &w_im[w]), (x_re, x_im), stride);
            let offset = bias.as_ref().map_or(0.0, |b| b[o]);
            for blk in 0..n_blocks {
                let row = blk * stride..blk * stride + n_freqs;
                let samples = fft.inverse(plans, &y_re[row.clone()], &y_im[row]);
                // The first k − 1 samples of a block are wrapped around: discarded.
                let start = blk * hop;
                let n = hop.min(t_out - start);
                for (y, &s) in out_row[start..start + n]
                    .iter_mut()
                    .zip(&samples[kernel - 1..kernel - 1 + n])
                {
                    *y = s * scale + offset;
                }
            }
        }
    };
    // One trial per task. A single trial runs on the calling thread alone: on the shared
    // 2-core development machine that was as fast at best as splitting it, and much steadier.
    let mut output = vec![0.0f32; batch * out_chans * t_out];
    let trials = input
        .chunks_exact(in_chans * t)
        .zip(output.chunks_exact_mut(out_chans * t_out));
    if batch == 1 {
        let mut buffers = trial_buffers();
        trials.for_each(|pair| convolve_trial(&mut buffers, pair));
    } else {
        let trials: Vec<_> = trials.collect();
        trials
            .into_par_iter()
            .for_each_init(trial_buffers, convolve_trial);
    }
    let data = TensorData::new(output, [batch, out_chans, t_out]);
    Some(Tensor::from_data(data, &x.device()))
}
