//! Butterworth IIR filters in second-order sections, designed and applied as
//! SciPy does (`butter(..., output="sos")`, `sosfilt`, `sosfiltfilt`).
//!
//! The design follows the classical route: analog prototype poles, frequency
//! pre-warping, the low-pass → band transformation, the bilinear transform,
//! then pairing of poles with the nearest zeros into sections, starting from
//! the pole closest to the unit circle (SciPy's `"nearest"` pairing, which
//! keeps each section's peak gain small). Section order and pairing follow
//! SciPy so the coefficients can be compared one by one.

use ndarray::{ArrayViewMut1, ArrayViewMut2};
use realfft::num_complex::Complex64 as C;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The shape of a Butterworth filter's pass band.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "btype")]
pub enum Band {
    /// Pass below `cutoff` Hz.
    Lowpass {
        /// −3 dB frequency in Hz.
        cutoff: f64,
    },
    /// Pass above `cutoff` Hz.
    Highpass {
        /// −3 dB frequency in Hz.
        cutoff: f64,
    },
    /// Pass between `low` and `high` Hz.
    Bandpass {
        /// Lower −3 dB frequency in Hz.
        low: f64,
        /// Upper −3 dB frequency in Hz.
        high: f64,
    },
    /// Stop between `low` and `high` Hz.
    Bandstop {
        /// Lower −3 dB frequency in Hz.
        low: f64,
        /// Upper −3 dB frequency in Hz.
        high: f64,
    },
}

/// A cascade of second-order sections `[b0, b1, b2, a0, a1, a2]` with `a0 = 1`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sos {
    /// One row per section.
    pub sections: Vec<[f64; 6]>,
}

/// Designs a digital Butterworth filter of `order` for sampling rate `sfreq`,
/// as SciPy's `butter(order, Wn, btype, output="sos", fs=sfreq)`.
///
/// Band-pass and band-stop filters have `2·order` poles, as in SciPy.
pub fn butter_sos(order: usize, band: Band, sfreq: f64) -> Result<Sos> {
    if !sfreq.is_finite() || sfreq <= 0.0 {
        return Err(Error::param("sfreq", sfreq, "must be a positive finite number"));
    }
    if order == 0 {
        return Err(Error::param("order", 0, "must be at least 1"));
    }
    if order > 40 {
        return Err(Error::param(
            "order",
            order,
            "is beyond what double precision second-order sections represent reliably (max 40)",
        ));
    }
    let nyq = sfreq / 2.0;
    let check_edge = |name: &str, f: f64| -> Result<f64> {
        if !f.is_finite() || f <= 0.0 || f >= nyq {
            return Err(Error::param(
                name,
                f,
                format!("must lie strictly between 0 and the Nyquist frequency ({nyq} Hz)"),
            ));
        }
        // SciPy normalises by fs/2 and pre-warps with fs = 2.
        let wn = 2.0 * f / sfreq;
        Ok(4.0 * (std::f64::consts::PI * wn / 2.0).tan())
    };
    let two_edges = |low: f64, high: f64| -> Result<(f64, f64)> {
        let (wl, wh) = (check_edge("low", low)?, check_edge("high", high)?);
        if low >= high {
            return Err(Error::param(
                "low",
                low,
                format!("must be below high ({high} Hz); the band edges are reversed or equal"),
            ));
        }
        Ok((wl, wh))
    };

    // Analog prototype: poles on the left unit semicircle, no zeros, unit gain.
    let n = order as f64;
    let proto: Vec<C> = (0..order)
        .map(|i| {
            let m = -(n - 1.0) + 2.0 * i as f64;
            -(C::new(0.0, std::f64::consts::PI * m / (2.0 * n))).exp()
        })
        .collect();
    let (z, p, k) = match band {
        Band::Lowpass { cutoff } => {
            let wo = check_edge("cutoff", cutoff)?;
            let p: Vec<C> = proto.iter().map(|&p| p * wo).collect();
            (Vec::new(), p, wo.powi(order as i32))
        }
        Band::Highpass { cutoff } => {
            let wo = check_edge("cutoff", cutoff)?;
            let prod_neg_p = proto.iter().fold(C::new(1.0, 0.0), |acc, &p| acc * -p);
            let p: Vec<C> = proto.iter().map(|&p| C::new(wo, 0.0) / p).collect();
            (
                vec![C::new(0.0, 0.0); order],
                p,
                (C::new(1.0, 0.0) / prod_neg_p).re,
            )
        }
        Band::Bandpass { low, high } => {
            let (wl, wh) = two_edges(low, high)?;
            let (bw, wo) = (wh - wl, (wl * wh).sqrt());
            let p_lp: Vec<C> = proto.iter().map(|&p| p * bw / 2.0).collect();
            let root = |x: C| (x * x - wo * wo).sqrt();
            let mut p: Vec<C> = p_lp.iter().map(|&x| x + root(x)).collect();
            p.extend(p_lp.iter().map(|&x| x - root(x)));
            (vec![C::new(0.0, 0.0); order], p, bw.powi(order as i32))
        }
        Band::Bandstop { low, high } => {
            let (wl, wh) = two_edges(low, high)?;
            let (bw, wo) = (wh - wl, (wl * wh).sqrt());
            let prod_neg_p = proto.iter().fold(C::new(1.0, 0.0), |acc, &p| acc * -p);
            let p_hp: Vec<C> = proto.iter().map(|&p| C::new(bw / 2.0, 0.0) / p).collect();
            let root = |x: C| (x * x - wo * wo).sqrt();
            let mut p: Vec<C> = p_hp.iter().map(|&x| x + root(x)).collect();
            p.extend(p_hp.iter().map(|&x| x - root(x)));
            let mut z = vec![C::new(0.0, wo); order];
            z.extend(vec![C::new(0.0, -wo); order]);
            (z, p, (C::new(1.0, 0.0) / prod_neg_p).re)
        }
    };
    let (z, p, k) = bilinear(z, p, k);
    Ok(zpk_to_sos(z, p, k))
}

/// Bilinear transform with SciPy's internal `fs = 2` (prewarping already applied).
fn bilinear(z: Vec<C>, p: Vec<C>, k: f64) -> (Vec<C>, Vec<C>, f64) {
    let fs2 = C::new(4.0, 0.0);
    let degree = p.len() - z.len();
    let num = z.iter().fold(C::new(1.0, 0.0), |acc, &z| acc * (fs2 - z));
    let den = p.iter().fold(C::new(1.0, 0.0), |acc, &p| acc * (fs2 - p));
    let mut zz: Vec<C> = z.iter().map(|&z| (fs2 + z) / (fs2 - z)).collect();
    zz.extend(std::iter::repeat_n(C::new(-1.0, 0.0), degree));
    let pz: Vec<C> = p.iter().map(|&p| (fs2 + p) / (fs2 - p)).collect();
    (zz, pz, k * (num / den).re)
}

/// Splits roots into the upper member of each conjugate pair (sorted by real
/// part, then |imag|) followed by the real roots (sorted), as SciPy's `_cplxreal`.
fn conjugate_pairs_then_reals(roots: &[C]) -> Vec<C> {
    let tol = 100.0 * f64::EPSILON;
    let mut complex: Vec<C> = Vec::new();
    let mut real: Vec<C> = Vec::new();
    for &r in roots {
        if r.im.abs() <= tol * r.norm() {
            real.push(C::new(r.re, 0.0));
        } else if r.im > 0.0 {
            complex.push(r);
        }
    }
    real.sort_by(|a, b| a.re.total_cmp(&b.re));
    complex.sort_by(|a, b| a.re.total_cmp(&b.re).then(a.im.abs().total_cmp(&b.im.abs())));
    complex.extend(real);
    complex
}

fn is_real(c: C) -> bool {
    c.im == 0.0
}

/// Index of the root in `from` nearest to `to`, restricted to real or complex roots.
fn nearest(from: &[C], to: C, want: Option<bool>) -> usize {
    let mut order: Vec<usize> = (0..from.len()).collect();
    order.sort_by(|&a, &b| (from[a] - to).norm().total_cmp(&(from[b] - to).norm()));
    match want {
        None => order[0],
        Some(real) => *order
            .iter()
            .find(|&&i| is_real(from[i]) == real)
            .expect("Butterworth zeros always include the kind asked for"),
    }
}

/// One section from up to two zeros and two poles (`b = poly(z)`, `a = poly(p)`, right-aligned).
fn section(z: &[C], p: &[C]) -> [f64; 6] {
    let poly = |roots: &[C]| -> Vec<f64> {
        let mut c = vec![C::new(1.0, 0.0)];
        for &r in roots {
            let mut next = vec![C::new(0.0, 0.0); c.len() + 1];
            for (i, &ci) in c.iter().enumerate() {
                next[i] += ci;
                next[i + 1] += ci * -r;
            }
            c = next;
        }
        c.iter().map(|c| c.re).collect()
    };
    let (b, a) = (poly(z), poly(p));
    let mut s = [0.0; 6];
    s[3 - b.len()..3].copy_from_slice(&b);
    s[6 - a.len()..6].copy_from_slice(&a);
    s
}

/// SciPy's `zpk2sos(z, p, k, pairing="nearest")` for digital filters.
fn zpk_to_sos(z: Vec<C>, p: Vec<C>, k: f64) -> Sos {
    let (mut z, mut p) = (z, p);
    if z.len() < p.len() {
        z.resize(p.len(), C::new(0.0, 0.0));
    }
    let n_sections = p.len().div_ceil(2);
    if p.len() % 2 == 1 {
        p.push(C::new(0.0, 0.0));
        z.push(C::new(0.0, 0.0));
    }
    let mut z = conjugate_pairs_then_reals(&z);
    let mut p = conjugate_pairs_then_reals(&p);
    let worst = |p: &[C]| -> usize {
        (0..p.len())
            .min_by(|&a, &b| (1.0 - p[a].norm()).abs().total_cmp(&(1.0 - p[b].norm()).abs()))
            .expect("poles remain while sections remain")
    };
    let mut sections = vec![[0.0; 6]; n_sections];
    for si in (0..n_sections).rev() {
        let p1 = p.remove(worst(&p));
        let n_real_p = p.iter().filter(|&&x| is_real(x)).count();
        if is_real(p1) && n_real_p == 0 {
            let z1 = z.remove(nearest(&z, p1, Some(true)));
            sections[si] = section(&[z1, C::new(0.0, 0.0)], &[p1, C::new(0.0, 0.0)]);
        } else if p.len() + 1 == z.len()
            && !is_real(p1)
            && n_real_p == 1
            && z.iter().filter(|&&x| is_real(x)).count() == 1
        {
            let z1 = z.remove(nearest(&z, p1, Some(false)));
            sections[si] = section(&[z1, z1.conj()], &[p1, p1.conj()]);
        } else {
            let p2 = if is_real(p1) {
                let reals: Vec<usize> = (0..p.len()).filter(|&i| is_real(p[i])).collect();
                let real_vals: Vec<C> = reals.iter().map(|&i| p[i]).collect();
                p.remove(reals[worst(&real_vals)])
            } else {
                p1.conj()
            };
            if z.is_empty() {
                sections[si] = section(&[], &[p1, p2]);
            } else {
                let z1 = z.remove(nearest(&z, p1, None));
                if !is_real(z1) {
                    sections[si] = section(&[z1, z1.conj()], &[p1, p2]);
                } else if z.is_empty() {
                    sections[si] = section(&[z1], &[p1, p2]);
                } else {
                    let z2 = z.remove(nearest(&z, p1, Some(true)));
                    sections[si] = section(&[z1, z2], &[p1, p2]);
                }
            }
        }
    }
    for c in &mut sections[0][..3] {
        *c *= k;
    }
    Sos { sections }
}

impl Sos {
    /// Initial states for a step response at steady state, per unit input (SciPy `sosfilt_zi`).
    pub fn steady_state(&self) -> Vec<[f64; 2]> {
        let mut scale = 1.0;
        self.sections
            .iter()
            .map(|s| {
                let (b0, b1, b2, a1, a2) = (s[0], s[1], s[2], s[4] / s[3], s[5] / s[3]);
                let (b0, b1, b2) = (b0 / s[3], b1 / s[3], b2 / s[3]);
                let (r0, r1) = (b1 - a1 * b0, b2 - a2 * b0);
                let z0 = (r0 + r1) / (1.0 + a1 + a2);
                let zi = [scale * z0, scale * (r1 - a2 * z0)];
                scale *= (s[0] + s[1] + s[2]) / (s[3] + s[4] + s[5]);
                zi
            })
            .collect()
    }

    /// Causal filtering of a sequence in place, from the given per-section states
    /// (transposed direct form II, as SciPy's `sosfilt`).
    fn run(&self, x: &mut [f64], state: &mut [[f64; 2]]) {
        for v in x.iter_mut() {
            let mut sample = *v;
            for (s, zi) in self.sections.iter().zip(state.iter_mut()) {
                let y = s[0] * sample + zi[0];
                zi[0] = s[1] * sample - s[4] * y + zi[1];
                zi[1] = s[2] * sample - s[5] * y;
                sample = y;
            }
            *v = sample;
        }
    }

    /// Causal filtering of each row from zero initial state (SciPy `sosfilt`).
    pub fn sosfilt(&self, data: ArrayViewMut2<'_, f64>) -> Result<()> {
        let rows: Vec<usize> = (0..data.nrows()).collect();
        self.sosfilt_rows(data, &rows, |c| format!("#{c}"))
    }

    /// [`Sos::sosfilt`] on the rows `rows` only; `row_name` names a row in errors.
    pub fn sosfilt_rows(
        &self,
        mut data: ArrayViewMut2<'_, f64>,
        rows: &[usize],
        row_name: impl Fn(usize) -> String,
    ) -> Result<()> {
        crate::error::check_rows_finite(data.view(), rows, &row_name, "IIR filtering")?;
        let mut buf = Vec::new();
        for &r in rows {
            let mut row = data.row_mut(r);
            buf.clear();
            buf.extend(row.iter());
            let mut state = vec![[0.0; 2]; self.sections.len()];
            self.run(&mut buf, &mut state);
            row.iter_mut().zip(&buf).for_each(|(d, s)| *d = *s);
        }
        Ok(())
    }

    /// The edge padding `sosfiltfilt` uses by default: three times the number of taps.
    pub fn default_padlen(&self) -> usize {
        let n = self.sections.len();
        let trailing_b = self.sections.iter().filter(|s| s[2] == 0.0).count();
        let trailing_a = self.sections.iter().filter(|s| s[5] == 0.0).count();
        3 * (2 * n + 1 - trailing_b.min(trailing_a))
    }

    /// Zero-phase forward-backward filtering of each row (SciPy `sosfiltfilt`
    /// with `padtype="odd"` and the default pad length). Rows must be longer
    /// than [`Sos::default_padlen`].
    pub fn sosfiltfilt(&self, data: ArrayViewMut2<'_, f64>) -> Result<()> {
        let rows: Vec<usize> = (0..data.nrows()).collect();
        self.sosfiltfilt_rows(data, &rows, |c| format!("#{c}"))
    }

    /// [`Sos::sosfiltfilt`] on the rows `rows` only; `row_name` names a row in errors.
    pub fn sosfiltfilt_rows(
        &self,
        mut data: ArrayViewMut2<'_, f64>,
        rows: &[usize],
        row_name: impl Fn(usize) -> String,
    ) -> Result<()> {
        crate::error::check_rows_finite(data.view(), rows, &row_name, "IIR filtering")?;
        let edge = self.default_padlen();
        let n = data.ncols();
        if n <= edge {
            return Err(Error::param(
                "data length",
                n,
                format!(
                    "forward-backward filtering with these {} sections needs more than {edge} samples (its edge padding)",
                    self.sections.len()
                ),
            ));
        }
        let zi = self.steady_state();
        let mut ext = vec![0.0; n + 2 * edge];
        for &r in rows {
            self.filtfilt_row(data.row_mut(r), &zi, edge, &mut ext);
        }
        Ok(())
    }

    fn filtfilt_row(&self, mut row: ArrayViewMut1<'_, f64>, zi: &[[f64; 2]], edge: usize, ext: &mut [f64]) {
        let n = row.len();
        let (first, last) = (row[0], row[n - 1]);
        for j in 0..edge {
            ext[j] = 2.0 * first - row[edge - j];
            ext[edge + n + j] = 2.0 * last - row[n - 2 - j];
        }
        for (e, v) in ext[edge..edge + n].iter_mut().zip(row.iter()) {
            *e = *v;
        }
        let start = ext[0];
        let mut state: Vec<[f64; 2]> = zi.iter().map(|z| [z[0] * start, z[1] * start]).collect();
        self.run(ext, &mut state);
        ext.reverse();
        let start = ext[0];
        let mut state: Vec<[f64; 2]> = zi.iter().map(|z| [z[0] * start, z[1] * start]).collect();
        self.run(ext, &mut state);
        ext.reverse();
        for (d, e) in row.iter_mut().zip(&ext[edge..edge + n]) {
            *d = *e;
        }
    }
}
