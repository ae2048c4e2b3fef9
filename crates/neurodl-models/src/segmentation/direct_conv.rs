//! A direct 3-D convolution on the host, for inference on Burn's CPU backend.
//!
//! Why our own: Burn's CPU `conv3d` is im2col + gemm, and for the U-Net's 3×3×3 layers the
//! im2col matrix (27 × the input), its zero-filling and gemm's packing of it took ~45 % of a
//! sliding window (`perf`: gemm multiply 44 %, packing 16 %, im2col 22 %, zero-filling 8 %),
//! where PyTorch's oneDNN convolves directly. This kernel reads the channels-first input
//! where it lies, in the shape of a gemm micro-kernel without the packing: per output row it
//! keeps 6 consecutive voxels along Z × 16 output channels in twelve AVX registers and, for
//! every input channel and tap, broadcasts six input values and loads two vectors of weights
//! (packed once per call so that they are read in order). A stride along Z is handled by
//! splitting the padded input into its stride phases, so that a tap's six voxels are adjacent.
//! Outputs equal Burn's up to the order of the float sums.

use burn::tensor::{Tensor, TensorData};
use rayon::prelude::*;

/// f32 lanes in an AVX register.
const LANES: usize = 8;
/// Output channels per register block: two registers.
const BLOCK_OUT: usize = 2 * LANES;
/// Consecutive Z voxels per micro-kernel call, at most.
const MAX_Z: usize = 6;
/// Input channels per pass over an X plane: a block's weights for them (8 × 27 taps × 16 for
/// 3×3×3, 13.8 KB) stay in L1.
const CHUNK_IN: usize = 8;

/// Shapes of one convolution.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    in_chans: usize,
    kernel: [usize; 3],
    stride: [usize; 3],
    /// Padded input extent along X and Y.
    padded: [usize; 2],
    /// Length of one phase row along Z (covers every voxel a tile reads).
    phase_len: usize,
    out: [usize; 3],
}

/// `conv3d(x, weight, bias)` with `stride` and symmetric zero `padding`, computed on the host;
/// `None` when this kernel does not apply (no AVX2/FMA, tensors that are not f32): the caller
/// then uses Burn's; Z kernels other than 1 or 3 taps, nnU-Net's, go to Burn's too. Output
/// channels are computed in blocks of 16, the last one zero-padded. A 2-D convolution written
/// as a unit-depth one is computed with its plane along Y and Z.
pub(crate) fn conv3d(
    x: &Tensor<5>,
    weight: &Tensor<5>,
    bias: Option<&Tensor<1>>,
    stride: [usize; 3],
    padding: [usize; 3],
) -> Option<Tensor<5>> {
    #[cfg(not(target_arch = "x86_64"))]
    return None;
    #[cfg(target_arch = "x86_64")]
    {
        if !(std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")) {
            return None;
        }
        let [batch, in_chans, sx, sy, sz] = x.dims();
        let [out_chans, _, kx, ky, kz] = weight.dims();
        if sz == 1 && kz == 1 && stride[2] == 1 && padding[2] == 0 && sx > 1 {
            // A 2-D convolution (a unit-depth volume and kernel): the register tile runs along
            // Z, so the plane goes to the last two axes of a unit-depth volume (free reshapes).
            let y = conv3d(
                &x.clone().reshape([batch, in_chans, 1, sx, sy]),
                &weight.clone().reshape([out_chans, in_chans, 1, kx, ky]),
                bias,
                [1, stride[0], stride[1]],
                [0, padding[0], padding[1]],
            )?;
            let [_, _, _, ox, oy] = y.dims();
            return Some(y.reshape([batch, out_chans, ox, oy, 1]));
        }
        if kz != 1 && kz != 3 {
            return None;
        }
        let extent =
            |size: usize, k: usize, s: usize, p: usize| (size + 2 * p).checked_sub(k).map(|d| d / s + 1);
        let out = [
            extent(sx, kx, stride[0], padding[0])?,
            extent(sy, ky, stride[1], padding[1])?,
            extent(sz, kz, stride[2], padding[2])?,
        ];
        let geometry = Geometry {
            in_chans,
            kernel: [kx, ky, kz],
            stride,
            padded: [sx + 2 * padding[0], sy + 2 * padding[1]],
            phase_len: out[2] + (kz - 1) / stride[2],
            out,
        };
        let input = x.clone().into_data().try_into_vec_as::<f32>().ok()?;
        let taps = weight.clone().into_data().try_into_vec_as::<f32>().ok()?;
        let n_blocks = out_chans.div_ceil(BLOCK_OUT);
        let mut bias = match bias {
            Some(b) => b.clone().into_data().try_into_vec_as::<f32>().ok()?,
            None => vec![0.0; out_chans],
        };
        bias.resize(n_blocks * BLOCK_OUT, 0.0);
        let packed = pack_weights(&taps, &geometry);
        let out_len = out_chans * out[0] * out[1] * out[2];
        let mut output = vec![0.0f32; batch * out_len];
        let per_block = in_chans * kx * ky * kz * BLOCK_OUT;
        for (sample, result) in input
            .chunks_exact(in_chans * sx * sy * sz)
            .zip(output.chunks_exact_mut(out_len))
        {
            let phases = phase_split(sample, [sx, sy, sz], padding, &geometry);
            result
                .par_chunks_mut(BLOCK_OUT * out[0] * out[1] * out[2])
                .zip(packed.par_chunks_exact(per_block))
                .zip(bias.par_chunks_exact(BLOCK_OUT))
                .for_each(|((rows, weights), offsets)| {
                    // SAFETY: AVX2 and FMA were detected above.
                    unsafe { convolve_block(&phases, weights, offsets, rows, &geometry) };
                });
        }
        let data = TensorData::new(output, [batch, out_chans, out[0], out[1], out[2]]);
        Some(Tensor::from_data(data, &x.device()))
    }
}

/// Weights `[out, in, kx, ky, kz]` as `[out / 16, in, kx, ky, kz, 16]`: the two registers of
/// weights a tap loads are adjacent, and a block's taps are read in order; the last block is
/// zero-padded to 16 channels.
fn pack_weights(taps: &[f32], g: &Geometry) -> Vec<f32> {
    let per_out = g.in_chans * g.kernel.iter().product::<usize>();
    let out_chans = taps.len() / per_out;
    let mut packed = vec![0.0f32; out_chans.div_ceil(BLOCK_OUT) * BLOCK_OUT * per_out];
    for (o, filter) in taps.chunks_exact(per_out).enumerate() {
        let (block, lane) = (o / BLOCK_OUT, o % BLOCK_OUT);
        for (i, &w) in filter.iter().enumerate() {
            packed[(block * per_out + i) * BLOCK_OUT + lane] = w;
        }
    }
    packed
}

/// One sample `[in, X, Y, Z]` zero-padded and split along Z into its stride phases:
/// `[phase, X + 2p, Y + 2p, in, phase_len]`, phase `q` holding padded Z positions `s·j + q`,
/// zero past the input.
fn phase_split(sample: &[f32], size: [usize; 3], padding: [usize; 3], g: &Geometry) -> Vec<f32> {
    let [sx, sy, sz] = size;
    let [px, py] = g.padded;
    let s = g.stride[2];
    let row = g.phase_len;
    let mut phases = vec![0.0f32; s * g.in_chans * px * py * row];
    for q in 0..s {
        for c in 0..g.in_chans {
            for x in 0..sx {
                for y in 0..sy {
                    let src = &sample[((c * sx + x) * sy + y) * sz..][..sz];
                    let at = (((q * px + x + padding[0]) * py + y + padding[1]) * g.in_chans + c) * row;
                    let dst = &mut phases[at..at + row];
                    if s == 1 {
                        dst[padding[2]..padding[2] + sz].copy_from_slice(src);
                        continue;
                    }
                    // Padded position z_p = s·j + q holds input z_p − p when that is inside.
                    for (j, d) in dst.iter_mut().enumerate() {
                        if let Some(z) = (s * j + q).checked_sub(padding[2]).filter(|&z| z < sz) {
                            *d = src[z];
                        }
                    }
                }
            }
        }
    }
    phases
}

/// All output rows `[16, X', Y', Z']` of one block of sixteen output channels (fewer in the
/// last block: `rows` then holds only the real ones). One X plane at a time, in passes of
/// [`CHUNK_IN`] input channels whose weights stay in L1 while every tile of the plane uses
/// them; the plane's partial sums, `[Y', Z', 16]`, stay in L2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn convolve_block(phases: &[f32], weights: &[f32], bias: &[f32], rows: &mut [f32], g: &Geometry) {
    let [ox, oy, oz] = g.out;
    let taps = g.kernel.iter().product::<usize>();
    // Where tap dz reads, relative to the row: its phase's start plus its shift in the phase
    // (divisions kept out of the inner loop).
    let phase_size = g.in_chans * g.padded[0] * g.padded[1] * g.phase_len;
    let dz_offsets: Vec<usize> = (0..g.kernel[2])
        .map(|dz| (dz % g.stride[2]) * phase_size + dz / g.stride[2])
        .collect();
    let plane_yz = oy * oz;
    let plane = ox * plane_yz;
    let mut partial = vec![0.0f32; plane_yz * BLOCK_OUT];
    for x in 0..ox {
        for sums in partial.chunks_exact_mut(BLOCK_OUT) {
            sums.copy_from_slice(bias);
        }
        for first in (0..g.in_chans).step_by(CHUNK_IN) {
            let chans = first..(first + CHUNK_IN).min(g.in_chans);
            let w = &weights[chans.start * taps * BLOCK_OUT..chans.end * taps * BLOCK_OUT];
            for y in 0..oy {
                let mut z = 0;
                while z < oz {
                    let n = (oz - z).min(MAX_Z);
                    let pass = Pass {
                        phases,
                        weights: w,
                        chans: chans.clone(),
                        at: [x, y, z],
                    };
                    let sums = &mut partial[(y * oz + z) * BLOCK_OUT..(y * oz + z + n) * BLOCK_OUT];
                    // SAFETY (all): the tile reads voxels z..z + n (+ the kernel's reach) of
                    // rows inside `phases`, and `sums` holds its n × 16 partial sums.
                    unsafe {
                        match *dz_offsets {
                            [a, b, c] => tile_of::<3>(n, &pass, [a, b, c], sums, g),
                            [a] => tile_of::<1>(n, &pass, [a], sums, g),
                            _ => unreachable!("conv3d takes Z kernels of 1 or 3 taps only"),
                        }
                    }
                    z += n;
                }
            }
        }
        // [Y', Z', channel] to the rows' [channel][X'][Y', Z'].
        for o in 0..rows.len() / plane {
            let out = &mut rows[o * plane + x * plane_yz..o * plane + (x + 1) * plane_yz];
            for (v, sums) in out.iter_mut().zip(partial.chunks_exact(BLOCK_OUT)) {
                *v = sums[o];
            }
        }
    }
}

/// [`tile`] for `n` (1 to 6) voxels.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_of<const KZ: usize>(
    n: usize,
    pass: &Pass<'_>,
    dz: [usize; KZ],
    sums: &mut [f32],
    g: &Geometry,
) {
    // SAFETY: forwarded from the caller.
    unsafe {
        match n {
            6 => tile::<6, KZ>(pass, dz, sums, g),
            5 => tile::<5, KZ>(pass, dz, sums, g),
            4 => tile::<4, KZ>(pass, dz, sums, g),
            3 => tile::<3, KZ>(pass, dz, sums, g),
            2 => tile::<2, KZ>(pass, dz, sums, g),
            _ => tile::<1, KZ>(pass, dz, sums, g),
        }
    }
}

/// What one micro-kernel call sums: a range of input channels (their packed weights) at output
/// voxel `at` onwards along Z.
struct Pass<'a> {
    phases: &'a [f32],
    weights: &'a [f32],
    chans: std::ops::Range<usize>,
    at: [usize; 3],
}

/// The micro-kernel: `N` consecutive Z voxels × 16 output channels, their partial sums `sums`
/// (`[N, 16]`) read into registers, the pass's input channels and taps added (the `KZ` Z taps
/// at `dz` from each row, unrolled), written back.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn tile<const N: usize, const KZ: usize>(
    pass: &Pass<'_>,
    dz: [usize; KZ],
    sums: &mut [f32],
    g: &Geometry,
) {
    use std::arch::x86_64::*;
    let [kx, ky, _] = g.kernel;
    let [_, py] = g.padded;
    let row_len = g.phase_len;
    let [x, y, z] = pass.at;
    let mut acc = [[_mm256_setzero_ps(); 2]; N];
    let s = sums.as_mut_ptr();
    for (j, a) in acc.iter_mut().enumerate() {
        // SAFETY: `sums` holds N × 16 floats.
        unsafe {
            a[0] = _mm256_loadu_ps(s.add(j * BLOCK_OUT));
            a[1] = _mm256_loadu_ps(s.add(j * BLOCK_OUT + LANES));
        }
    }
    let input = pass.phases.as_ptr();
    let mut w = pass.weights.as_ptr();
    for c in pass.chans.clone() {
        for dx in 0..kx {
            for dy in 0..ky {
                let row =
                    (((g.stride[0] * x + dx) * py + g.stride[1] * y + dy) * g.in_chans + c) * row_len + z;
                for offset in dz {
                    // SAFETY: voxels `row + offset .. + N` lie in one phase row (its length
                    // covers the output's Z plus the kernel's reach), and `w` walks the pass's
                    // packed weights one tap (16 floats) at a time, in order.
                    unsafe {
                        let (w0, w1) = (_mm256_loadu_ps(w), _mm256_loadu_ps(w.add(LANES)));
                        let voxels = input.add(row + offset);
                        for (j, a) in acc.iter_mut().enumerate() {
                            let v = _mm256_broadcast_ss(&*voxels.add(j));
                            a[0] = _mm256_fmadd_ps(v, w0, a[0]);
                            a[1] = _mm256_fmadd_ps(v, w1, a[1]);
                        }
                        w = w.add(BLOCK_OUT);
                    }
                }
            }
        }
    }
    for (j, a) in acc.iter().enumerate() {
        // SAFETY: as above.
        unsafe {
            _mm256_storeu_ps(s.add(j * BLOCK_OUT), a[0]);
            _mm256_storeu_ps(s.add(j * BLOCK_OUT + LANES), a[1]);
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::module::conv3d as burn_conv3d;
    use burn::tensor::ops::ConvOptions;
    use burn::tensor::{Device, Distribution, Tensor};

    #[test]
    fn direct_convolution_equals_burns() {
        let device = Device::default();
        // (batch, in, out, size, kernel, stride): the U-Net's 3×3×3 stride 1 and 2, an
        // anisotropic 1×3×3, a 3×3×1, 1×1×1 convolutions (a 3-class head), output channels off the
        // block of 16, Z extents off the tile of 6, odd sizes.
        let cases = [
            (1, 3, 16, [6, 5, 7], [3, 3, 3], [1, 1, 1]),
            (2, 5, 32, [9, 6, 19], [3, 3, 3], [1, 1, 1]),
            (1, 4, 16, [8, 7, 40], [3, 3, 3], [2, 2, 2]),
            (1, 4, 16, [7, 9, 11], [3, 3, 3], [2, 2, 2]),
            (1, 2, 16, [4, 6, 33], [1, 3, 3], [1, 2, 2]),
            (1, 2, 16, [6, 6, 5], [3, 3, 1], [1, 1, 1]),
            (1, 6, 48, [3, 4, 26], [1, 1, 1], [1, 1, 1]),
            (1, 32, 3, [5, 4, 9], [1, 1, 1], [1, 1, 1]),
            (2, 4, 20, [5, 6, 7], [3, 3, 3], [1, 1, 1]),
            // A 2-D convolution as a unit-depth one (the 2-D U-Net), stride 1 and 2.
            (2, 3, 16, [9, 11, 1], [3, 3, 1], [1, 1, 1]),
            (1, 3, 16, [9, 11, 1], [3, 3, 1], [2, 2, 1]),
        ];
        for (batch, cin, cout, size, kernel, stride) in cases {
            let padding = kernel.map(|k| (k - 1) / 2);
            let x = Tensor::<5>::random(
                [batch, cin, size[0], size[1], size[2]],
                Distribution::Normal(0.0, 1.0),
                &device,
            );
            let w = Tensor::<5>::random(
                [cout, cin, kernel[0], kernel[1], kernel[2]],
                Distribution::Normal(0.0, 0.3),
                &device,
            );
            let b = Tensor::<1>::random([cout], Distribution::Normal(0.0, 1.0), &device);
            let reference = burn_conv3d(
                x.clone(),
                w.clone(),
                Some(b.clone()),
                ConvOptions::new(stride, padding, [1, 1, 1], 1),
            );
            let Some(got) = super::conv3d(&x, &w, Some(&b), stride, padding) else {
                println!("skipped: the CPU has no AVX2/FMA");
                return;
            };
            assert_eq!(got.dims(), reference.dims(), "{size:?} k {kernel:?} s {stride:?}");
            let scale = reference.clone().abs().max().into_scalar::<f32>();
            let err = (got - reference).abs().max().into_scalar::<f32>();
            assert!(
                err <= 1e-5 * scale,
                "{size:?} k {kernel:?} s {stride:?}: {err} (scale {scale})"
            );
        }
    }
}
