//! Long 1-D convolutions in the frequency domain, by overlap-save: the input is cut into
//! overlapping blocks, each block's spectrum is mixed across channels with the kernels', and
//! the inverse transform keeps the samples the circular wrap-around did not touch.
//!
//! Two routes. On Burn's CPU backend, [`host`] copies the data out once and runs real FFTs
//! (`realfft`) and a vectorised complex multiply-accumulate. On any other device this module
//! writes the discrete Fourier transform as matrix products, reshapes and transposes, which
//! every backend runs well (an O(L) transform per sample instead of O(log L), acceptable for
//! the short blocks chosen); Burn's own FFT (`burn-signal`, power-of-two lengths) allocates
//! per fibre and made the convolution slower than the direct one.

use std::collections::HashMap;
use std::f64::consts::PI;
use std::sync::{Arc, Mutex, OnceLock};

use burn::tensor::{Tensor, TensorData};

pub(crate) mod host;

/// The real DFT matrices of one `(block, kernel)` pair, with `F = block / 2 + 1` frequencies
/// and `hop = block − kernel + 1` outputs per block. Spectra are laid out frequency-major,
/// `(f, re|im)`, so that transposing a product gives the per-frequency batches directly.
struct DftMatrices {
    /// `[block, (F, 2)]`: a block of samples to its spectrum.
    forward: Vec<f32>,
    /// `[kernel, F]` twice: taps to the real and to the imaginary part of the reversed
    /// kernel's spectrum.
    kernel_re: Vec<f32>,
    kernel_im: Vec<f32>,
    /// `[(F, 2), hop]`: a block's spectrum to its last `hop` samples.
    inverse: Vec<f32>,
}

impl DftMatrices {
    fn new(block: usize, kernel: usize) -> Self {
        let n_freqs = block / 2 + 1;
        let hop = block - kernel + 1;
        let angle = |f: usize, n: usize| 2.0 * PI * ((f * n) % block) as f64 / block as f64;
        let mut forward = vec![0.0f32; block * 2 * n_freqs];
        for n in 0..block {
            for f in 0..n_freqs {
                let a = angle(f, n);
                forward[n * 2 * n_freqs + 2 * f] = a.cos() as f32;
                forward[n * 2 * n_freqs + 2 * f + 1] = -a.sin() as f32;
            }
        }
        // Correlating with w is convolving with h[j] = w[k − 1 − j]; H_f = Σ_j h[j] e^{−iθ(f, j)}.
        let mut kernel_re = vec![0.0f32; kernel * n_freqs];
        let mut kernel_im = vec![0.0f32; kernel * n_freqs];
        for tap in 0..kernel {
            for f in 0..n_freqs {
                let a = angle(f, kernel - 1 - tap);
                kernel_re[tap * n_freqs + f] = a.cos() as f32;
                kernel_im[tap * n_freqs + f] = -a.sin() as f32;
            }
        }
        // x[n] = (1/L) Σ_f a_f (Re X_f cos θ − Im X_f sin θ), a_f = 2 except at DC and Nyquist.
        let mut inverse = vec![0.0f32; 2 * n_freqs * hop];
        for f in 0..n_freqs {
            let weight = if f == 0 || 2 * f == block { 1.0 } else { 2.0 } / block as f64;
            for j in 0..hop {
                let a = angle(f, kernel - 1 + j);
                inverse[2 * f * hop + j] = (weight * a.cos()) as f32;
                inverse[(2 * f + 1) * hop + j] = (-weight * a.sin()) as f32;
            }
        }
        Self {
            forward,
            kernel_re,
            kernel_im,
            inverse,
        }
    }

    /// Built once per `(block, kernel)` in the process: the trigonometry would otherwise cost
    /// as much as a single trial's convolution.
    fn cached(block: usize, kernel: usize) -> Arc<Self> {
        type Cache = Mutex<HashMap<(usize, usize), Arc<DftMatrices>>>;
        static CACHE: OnceLock<Cache> = OnceLock::new();
        let mut cache = CACHE
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        cache
            .entry((block, kernel))
            .or_insert_with(|| Arc::new(Self::new(block, kernel)))
            .clone()
    }
}

/// Multiply-adds of overlap-save with blocks of `block` samples, per trial: the forward
/// transforms, the per-frequency channel mixing (a `[2·out, 2·in]` real block per frequency),
/// and the inverse transforms.
fn overlap_save_cost(in_chans: usize, out_chans: usize, kernel: usize, t: usize, block: usize) -> usize {
    let n_freqs = block / 2 + 1;
    let hop = block - kernel + 1;
    let n_blocks = (t - kernel + 1).div_ceil(hop);
    n_blocks
        * (in_chans * block * 2 * n_freqs
            + n_freqs * 4 * out_chans * in_chans
            + out_chans * 2 * n_freqs * hop)
}

/// The power-of-two block length in `smallest..=largest` (the latter raised to the former if
/// below it) at which `cost(block)` is least, if that is under half of the direct
/// convolution's multiply-adds (the transforms and copies have overheads a count leaves out):
/// otherwise, or for a kernel longer than the signal, `None`: convolve directly. The one
/// search both routes use, each with its own cost and range.
fn cheapest_block(
    [in_chans, out_chans, kernel, t]: [usize; 4],
    smallest: usize,
    largest: usize,
    cost: impl Fn(usize) -> usize,
) -> Option<usize> {
    if kernel == 0 || kernel > t {
        return None;
    }
    let direct = out_chans * in_chans * kernel * (t - kernel + 1);
    let largest = largest.max(smallest);
    std::iter::successors(Some(smallest), |b| (2 * b <= largest).then_some(2 * b))
        .map(|block| (cost(block), block))
        .min()
        .filter(|&(cost, _)| 2 * cost < direct)
        .map(|(_, block)| block)
}

/// The block length at which the matrix route needs the fewest multiply-adds (blocks from just
/// over a kernel to the signal's length), if [`cheapest_block`] finds it worth it.
pub(crate) fn cheaper_block(in_chans: usize, out_chans: usize, kernel: usize, t: usize) -> Option<usize> {
    cheapest_block(
        [in_chans, out_chans, kernel, t],
        (kernel + 1).next_power_of_two(),
        t.next_power_of_two(),
        |block| overlap_save_cost(in_chans, out_chans, kernel, t, block),
    )
}

/// `conv1d(x, weight, bias)` with stride 1 and no padding (`[b, in, t]` and `[out, in, k]` to
/// `[b, out, t − k + 1]`), by overlap-save: the input is cut into blocks of `block` samples
/// overlapping by `k − 1`, each block's spectrum is mixed across channels with the kernel's
/// (per frequency, one real `[2·out, 2·in]` product for the complex one), and the inverse
/// transform keeps the `block − k + 1` samples that the circular wrap-around did not touch.
/// Rounding differs from the direct sum by a few f32 epsilons of the block's magnitude.
pub(crate) fn conv1d_overlap_save(
    x: Tensor<3>,
    weight: Tensor<3>,
    bias: Option<Tensor<1>>,
    block: usize,
) -> Tensor<3> {
    let device = x.device();
    let [batch, in_chans, t] = x.dims();
    let [out_chans, _, kernel] = weight.dims();
    let t_out = t - kernel + 1;
    let n_freqs = block / 2 + 1;
    let hop = block - kernel + 1;
    let n_blocks = t_out.div_ceil(hop);
    let padded_len = (n_blocks - 1) * hop + block;
    let dft = DftMatrices::cached(block, kernel);
    let matrix = |values: &[f32], shape: [usize; 2]| -> Tensor<2> {
        Tensor::from_data(TensorData::new(values.to_vec(), shape), &device)
    };

    // Channels first, so that every product below leaves its result in the order the next one
    // reads (Burn's CPU backend transposes 2-D views quickly, higher-rank permutations slowly).
    let x = x.swap_dims(0, 1); // [in, b, t]
    let x = if padded_len > t {
        Tensor::cat(
            vec![x, Tensor::zeros([in_chans, batch, padded_len - t], &device)],
            2,
        )
    } else {
        x.narrow(2, 0, padded_len)
    };
    let frames: Tensor<2> = x
        .unfold::<4, _>(2, block, hop)
        .reshape([in_chans * batch * n_blocks, block]);
    // [(in, b, blocks), (F, re|im)] → [F, (re|im, in), (b, blocks)]
    let spectra: Tensor<3> = frames
        .matmul(matrix(&dft.forward, [block, 2 * n_freqs]))
        .transpose()
        .reshape([n_freqs, 2 * in_chans, batch * n_blocks]);
    // The reversed kernel's spectrum as [F, out, in] (real, imaginary), then the complex product
    // as the real block matrix [[Re, −Im], [Im, Re]]: [F, (re|im, out), (re|im, in)].
    let taps: Tensor<2> = weight.reshape([out_chans * in_chans, kernel]);
    let spectrum = |m: &[f32]| -> Tensor<3> {
        taps.clone()
            .matmul(matrix(m, [kernel, n_freqs]))
            .transpose()
            .reshape([n_freqs, out_chans, in_chans])
    };
    let (w_re, w_im) = (spectrum(&dft.kernel_re), spectrum(&dft.kernel_im));
    let mixing = Tensor::cat(
        vec![
            Tensor::cat(vec![w_re.clone(), w_im.clone().neg()], 2),
            Tensor::cat(vec![w_im, w_re], 2),
        ],
        1,
    );
    // [(F, re|im), (out, b, blocks)] → [(out, b, blocks), hop] → the valid samples.
    let y: Tensor<3> = mixing
        .matmul(spectra)
        .reshape([2 * n_freqs, out_chans * batch * n_blocks])
        .transpose()
        .matmul(matrix(&dft.inverse, [2 * n_freqs, hop]))
        .reshape([out_chans, batch, n_blocks * hop])
        .narrow(2, 0, t_out)
        .swap_dims(0, 1);
    match bias {
        Some(b) => y + b.reshape([1, out_chans, 1]),
        None => y,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution};

    /// Checks `route` against the direct convolution, within 2e-6 of the output's magnitude,
    /// for `(batch, in, out, t, k, block)` cases.
    fn equals_the_direct_convolution(
        cases: &[(usize, usize, usize, usize, usize, usize)],
        route: impl Fn(Tensor<3>, Tensor<3>, Tensor<1>, usize) -> Tensor<3>,
    ) {
        let device = Device::default();
        for &(batch, c, o, t, k, block) in cases {
            let x = Tensor::<3>::random([batch, c, t], Distribution::Normal(0.0, 1.0), &device);
            let w = Tensor::<3>::random([o, c, k], Distribution::Normal(0.0, 0.2), &device);
            let b = Tensor::<1>::random([o], Distribution::Normal(0.0, 1.0), &device);
            let direct = crate::layers::conv1d_raw(x.clone(), w.clone(), Some(b.clone()), 1);
            let spectral = route(x, w, b, block);
            assert_eq!(spectral.dims(), direct.dims());
            let scale = direct.clone().abs().max().into_scalar::<f32>();
            let err = (spectral - direct).abs().max().into_scalar::<f32>();
            assert!(
                err <= 2e-6 * scale,
                "{batch}x{c}->{o}, t {t}, k {k}, L {block}: {err} (scale {scale})"
            );
        }
    }

    #[test]
    fn overlap_save_equals_the_direct_convolution() {
        // One block, an exact number of hops, ragged last blocks, a kernel as long as the
        // signal, and ShallowFBCSPNet's 22 → 40 channels with 25 taps over 1125 samples at
        // block lengths around the ones the searches pick.
        let cases = [
            (1, 1, 1, 40, 25, 32),
            (2, 3, 5, 128, 25, 64),
            (1, 4, 2, 301, 16, 32),
            (1, 2, 3, 70, 70, 128),
            (2, 22, 40, 1125, 25, 32),
            (2, 22, 40, 1125, 25, 64),
            (2, 22, 40, 1125, 25, 128),
            (1, 22, 40, 1125, 25, 2048),
        ];
        equals_the_direct_convolution(&cases, |x, w, b, block| conv1d_overlap_save(x, w, Some(b), block));
        equals_the_direct_convolution(&cases, |x, w, b, block| {
            host::conv1d_overlap_save(&x, &w, Some(&b), block).expect("f32 tensors")
        });
        assert_eq!(host::cheaper_block(22, 40, 25, 1125), Some(128));
        assert_eq!(host::cheaper_block(22, 40, 3, 1125), None);
    }

    #[test]
    fn the_block_search_prefers_direct_for_short_kernels() {
        // ShallowFBCSPNet's first layer: 64-sample blocks, ~2.7x fewer multiply-adds.
        assert_eq!(cheaper_block(22, 40, 25, 1125), Some(64));
        // EEGNet-style 3-tap or Deep4Net's 10-tap kernels stay direct.
        assert_eq!(cheaper_block(22, 40, 3, 1125), None);
        assert_eq!(cheaper_block(25, 25, 10, 1116), None);
        // A kernel as long as the signal is one output: direct; a longer one is not ours.
        assert_eq!(cheaper_block(4, 4, 100, 100), None);
        assert_eq!(cheaper_block(4, 4, 101, 100), None);
        assert_eq!(host::cheaper_block(4, 4, 101, 100), None);
    }
}
