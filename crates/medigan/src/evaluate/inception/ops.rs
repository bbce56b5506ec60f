//! The layers of the network on one image (channels x height x width, row-major): convolution
//! with batch norm folded in and ReLU (im2col + sgemm), max and average pooling.
//!
//! The matrix products are faer's (SIMD kernels chosen at run time, AVX-512 included: 2-3x the
//! speed of matrixmultiply's here); a large product is split by output channels across rayon's
//! threads.
//!
//! Buffers (activations, im2col columns) come from a small per-thread pool and go back to it
//! when dropped: a fresh buffer per layer cost ~15% of the time in zeroing and page faults.

use std::cell::RefCell;

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

/// Products smaller than this many multiply-adds are not split across threads.
const PARALLEL_MIN_MACS: usize = 1 << 21;

/// Buffers kept per thread, at most.
const POOL_BUFFERS: usize = 16;

/// Floats kept per thread, at most (128 MB: the largest im2col buffer, 25 MB, and the
/// activations alive with it).
const POOL_FLOATS: usize = 32 << 20;

thread_local! {
    static POOL: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer of `n` floats with unspecified contents: the pool's smallest that holds `n`, else
/// its largest grown (only the growth is zeroed), else a new one.
pub(crate) fn scratch(n: usize) -> Vec<f32> {
    let reused = POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let fits = (0..pool.len())
            .filter(|&i| pool[i].capacity() >= n)
            .min_by_key(|&i| pool[i].capacity());
        let pick = fits.or_else(|| (0..pool.len()).max_by_key(|&i| pool[i].capacity()));
        pick.map(|i| pool.swap_remove(i))
    });
    let mut buffer = reused.unwrap_or_default();
    if buffer.len() >= n {
        buffer.truncate(n);
    } else {
        buffer.resize(n, 0.0);
    }
    buffer
}

/// Gives a buffer back to this thread's pool (dropped when the pool is full).
fn recycle(buffer: Vec<f32>) {
    if buffer.capacity() == 0 {
        return;
    }
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let held: usize = pool.iter().map(Vec::capacity).sum();
        if pool.len() < POOL_BUFFERS && held + buffer.capacity() <= POOL_FLOATS {
            pool.push(buffer);
        }
    });
}

impl Drop for Act {
    fn drop(&mut self) {
        recycle(std::mem::take(&mut self.data));
    }
}

/// An activation: `c` channels of `h` x `w`, row-major.
#[derive(Debug, Clone)]
pub(crate) struct Act {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub data: Vec<f32>,
}

/// A borrowed activation, or some of its channels.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ActRef<'a> {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub data: &'a [f32],
}

impl Act {
    /// The whole activation, borrowed.
    pub fn view(&self) -> ActRef<'_> {
        self.channels(0, self.c)
    }

    /// Channels `from .. from + n`, borrowed.
    pub fn channels(&self, from: usize, n: usize) -> ActRef<'_> {
        let plane = self.h * self.w;
        ActRef {
            c: n,
            h: self.h,
            w: self.w,
            data: &self.data[from * plane..(from + n) * plane],
        }
    }

    /// The channels of `parts` one after the other (all of one height and width).
    pub fn concat(parts: &[ActRef<'_>]) -> Act {
        let (h, w) = (parts[0].h, parts[0].w);
        debug_assert!(parts.iter().all(|p| p.h == h && p.w == w));
        let mut data = scratch(parts.iter().map(|p| p.data.len()).sum());
        let mut at = 0;
        for p in parts {
            data[at..at + p.data.len()].copy_from_slice(p.data);
            at += p.data.len();
        }
        Act {
            c: parts.iter().map(|p| p.c).sum(),
            h,
            w,
            data,
        }
    }

    /// Mean of each channel: the network's final adaptive average pool to 1 x 1.
    pub fn global_mean(&self) -> Vec<f32> {
        let plane = self.h * self.w;
        self.data
            .chunks_exact(plane)
            .map(|ch| (ch.iter().map(|&v| f64::from(v)).sum::<f64>() / plane as f64) as f32)
            .collect()
    }
}

/// Output length of a window of `k` with `stride` and `pad` on each side over `n`.
fn out_len(n: usize, k: usize, stride: usize, pad: usize) -> usize {
    (n + 2 * pad - k) / stride + 1
}

/// A convolution followed by batch norm (folded into weight and bias) and ReLU: torchvision's
/// `BasicConv2d`.
#[derive(Debug, Clone)]
pub(crate) struct Conv {
    /// `cout` rows of `cin * kh * kw`.
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub cin: usize,
    pub cout: usize,
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    pub pad: (usize, usize),
}

impl Conv {
    /// The convolutions of `convs` stacked into one with all their output channels, in order
    /// (they must share input channels, kernel, stride and padding).
    pub fn stack(convs: Vec<Conv>) -> Conv {
        let mut it = convs.into_iter();
        let mut first = it.next().expect("stack of no convolutions");
        for c in it {
            assert!(c.cin == first.cin && c.kernel == first.kernel && c.stride == first.stride);
            assert!(c.pad == first.pad);
            first.weight.extend(c.weight);
            first.bias.extend(c.bias);
            first.cout += c.cout;
        }
        first
    }

    /// Convolution, bias, ReLU; `parallel` splits the product across rayon's threads.
    pub fn forward(&self, x: ActRef<'_>, parallel: bool) -> Act {
        debug_assert_eq!(x.c, self.cin);
        let (kh, kw) = self.kernel;
        let (sh, sw) = self.stride;
        let (ph, pw) = self.pad;
        let ho = out_len(x.h, kh, sh, ph);
        let wo = out_len(x.w, kw, sw, pw);
        let (m, k, n) = (self.cout, self.cin * kh * kw, ho * wo);
        let pointwise = kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0;
        let cols = (!pointwise).then(|| im2col(x, self.kernel, self.stride, self.pad, ho, wo));
        let b: &[f32] = cols.as_deref().unwrap_or(x.data);
        // Every element is written by the product (`Accum::Replace`).
        let mut out = scratch(m * n);
        let b = MatRef::from_row_major_slice(b, k, n);
        let threads = rayon::current_num_threads();
        if parallel && threads > 1 && m * n * k >= PARALLEL_MIN_MACS && m >= 16 {
            // Rows per task: a multiple of 8 (the sgemm kernel's row block).
            let rows = m.div_ceil(threads).div_ceil(8) * 8;
            out.par_chunks_mut(rows * n)
                .zip(self.weight.par_chunks(rows * k))
                .zip(self.bias.par_chunks(rows))
                .for_each(|((c, a), bias)| gemm_bias_relu(a, b, bias, c));
        } else {
            gemm_bias_relu(&self.weight, b, &self.bias, &mut out);
        }
        if let Some(cols) = cols {
            recycle(cols);
        }
        Act {
            c: m,
            h: ho,
            w: wo,
            data: out,
        }
    }
}

/// `c = relu(a . b + bias)`, `a` row-major with `bias.len()` rows.
fn gemm_bias_relu(a: &[f32], b: MatRef<'_, f32>, bias: &[f32], c: &mut [f32]) {
    let (k, n) = (b.nrows(), b.ncols());
    let m = bias.len();
    let a = MatRef::from_row_major_slice(a, m, k);
    let cm = MatMut::from_row_major_slice_mut(c, m, n);
    matmul(cm, Accum::Replace, a, b, 1.0, Par::Seq);
    for (row, &bv) in c.chunks_exact_mut(n).zip(bias) {
        for v in row {
            *v = (*v + bv).max(0.0);
        }
    }
}

/// The patches of `x` as columns: `(c * kh * kw)` rows of `ho * wo`, zero outside the image
/// (written explicitly: the buffer is reused).
fn im2col(
    x: ActRef<'_>,
    (kh, kw): (usize, usize),
    (sh, sw): (usize, usize),
    (ph, pw): (usize, usize),
    ho: usize,
    wo: usize,
) -> Vec<f32> {
    let n = ho * wo;
    let mut cols = scratch(x.c * kh * kw * n);
    let mut rows = cols.chunks_exact_mut(n);
    for ci in 0..x.c {
        let plane = &x.data[ci * x.h * x.w..(ci + 1) * x.h * x.w];
        for ki in 0..kh {
            for kj in 0..kw {
                let row = rows.next().expect("im2col rows");
                // Output columns whose input column ox * sw + kj - pw is inside the image.
                let lo = pw.saturating_sub(kj).div_ceil(sw);
                let hi = if x.w + pw > kj {
                    (x.w + pw - kj - 1) / sw + 1
                } else {
                    0
                }
                .min(wo);
                for oy in 0..ho {
                    let iy = oy * sh + ki;
                    let dst = &mut row[oy * wo..(oy + 1) * wo];
                    if iy < ph || iy - ph >= x.h || lo >= hi {
                        dst.fill(0.0);
                        continue;
                    }
                    let src = &plane[(iy - ph) * x.w..(iy - ph + 1) * x.w];
                    dst[..lo].fill(0.0);
                    dst[hi..].fill(0.0);
                    let ix0 = lo * sw + kj - pw;
                    if sw == 1 {
                        dst[lo..hi].copy_from_slice(&src[ix0..ix0 + (hi - lo)]);
                    } else {
                        for (d, s) in dst[lo..hi].iter_mut().zip(src[ix0..].iter().step_by(sw)) {
                            *d = *s;
                        }
                    }
                }
            }
        }
    }
    cols
}

/// 3 x 3 max pool with stride 2, no padding: a pass along rows, then one across them.
pub(crate) fn max_pool_3x3_s2(x: ActRef<'_>) -> Act {
    let (ho, wo) = (out_len(x.h, 3, 2, 0), out_len(x.w, 3, 2, 0));
    let mut data = scratch(x.c * ho * wo);
    let mut rows = vec![0f32; x.h * wo];
    for (plane, out) in x
        .data
        .chunks_exact(x.h * x.w)
        .zip(data.chunks_exact_mut(ho * wo))
    {
        for (src, dst) in plane.chunks_exact(x.w).zip(rows.chunks_exact_mut(wo)) {
            for (d, r) in dst.iter_mut().zip(src.windows(3).step_by(2)) {
                *d = r[0].max(r[1]).max(r[2]);
            }
        }
        for (oy, dst) in out.chunks_exact_mut(wo).enumerate() {
            let r = &rows[2 * oy * wo..(2 * oy + 3) * wo];
            let (a, rest) = r.split_at(wo);
            let (b, c) = rest.split_at(wo);
            for (((d, &a), &b), &c) in dst.iter_mut().zip(a).zip(b).zip(c) {
                *d = a.max(b).max(c);
            }
        }
    }
    Act {
        c: x.c,
        h: ho,
        w: wo,
        data,
    }
}

/// `op` over each 3-window of `src` clipped to it (centred, so the ends see 2 values).
fn window3(src: &[f32], dst: &mut [f32], op: impl Fn(f32, f32) -> f32 + Copy) {
    let n = src.len();
    if n == 1 {
        dst[0] = src[0];
        return;
    }
    dst[0] = op(src[0], src[1]);
    dst[n - 1] = op(src[n - 2], src[n - 1]);
    for (((d, &a), &b), &c) in dst[1..n - 1]
        .iter_mut()
        .zip(&src[..n - 2])
        .zip(&src[1..])
        .zip(&src[2..])
    {
        *d = op(op(a, b), c);
    }
}

/// 3 x 3 pool with stride 1 and padding 1, same size out: the maximum, or the mean of the
/// inside values only (`avg_pool2d(..., count_include_pad=False)`). Separable: rows, then columns.
pub(crate) fn pool_3x3_s1_same(x: ActRef<'_>, max: bool) -> Act {
    if max {
        pool_same(x, f32::max, false)
    } else {
        pool_same(x, |a, b| a + b, true)
    }
}

fn pool_same(x: ActRef<'_>, op: impl Fn(f32, f32) -> f32 + Copy, mean: bool) -> Act {
    let (h, w) = (x.h, x.w);
    // Values inside the window at each row / column: 2 at the borders, 3 inside.
    let inside = |i: usize, n: usize| (3 - usize::from(i == 0) - usize::from(i + 1 == n)).min(n);
    let count: Vec<f32> = (0..h)
        .flat_map(|y| (0..w).map(move |x| (inside(y, h) * inside(x, w)) as f32))
        .collect();
    let mut data = scratch(x.data.len());
    let mut rows = vec![0f32; h * w];
    for (plane, out) in x.data.chunks_exact(h * w).zip(data.chunks_exact_mut(h * w)) {
        for (src, dst) in plane.chunks_exact(w).zip(rows.chunks_exact_mut(w)) {
            window3(src, dst, op);
        }
        if h == 1 {
            out.copy_from_slice(&rows);
        } else {
            // Across rows: whole rows at a time.
            for y in 0..h {
                let lo = y.saturating_sub(1);
                let hi = (y + 2).min(h);
                let dst = &mut out[y * w..(y + 1) * w];
                dst.copy_from_slice(&rows[lo * w..(lo + 1) * w]);
                for r in lo + 1..hi {
                    for (d, &v) in dst.iter_mut().zip(&rows[r * w..(r + 1) * w]) {
                        *d = op(*d, v);
                    }
                }
            }
        }
        if mean {
            for (v, &n) in out.iter_mut().zip(&count) {
                *v /= n;
            }
        }
    }
    Act { c: x.c, h, w, data }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct convolution, for checking im2col + gemm.
    fn naive(conv: &Conv, x: &Act) -> Act {
        let (kh, kw) = conv.kernel;
        let (sh, sw) = conv.stride;
        let (ph, pw) = conv.pad;
        let ho = out_len(x.h, kh, sh, ph);
        let wo = out_len(x.w, kw, sw, pw);
        let mut data = vec![0f32; conv.cout * ho * wo];
        for co in 0..conv.cout {
            for oy in 0..ho {
                for ox in 0..wo {
                    let mut acc = conv.bias[co];
                    for ci in 0..conv.cin {
                        for ki in 0..kh {
                            for kj in 0..kw {
                                let iy = (oy * sh + ki) as isize - ph as isize;
                                let ix = (ox * sw + kj) as isize - pw as isize;
                                if iy < 0 || ix < 0 || iy >= x.h as isize || ix >= x.w as isize {
                                    continue;
                                }
                                let v = x.data[(ci * x.h + iy as usize) * x.w + ix as usize];
                                acc += v * conv.weight[((co * conv.cin + ci) * kh + ki) * kw + kj];
                            }
                        }
                    }
                    data[(co * ho + oy) * wo + ox] = acc.max(0.0);
                }
            }
        }
        Act {
            c: conv.cout,
            h: ho,
            w: wo,
            data,
        }
    }

    fn pseudo(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn conv_matches_direct_convolution() {
        let shapes = [
            ((1, 1), (1, 1), (0, 0)),
            ((3, 3), (2, 2), (0, 0)),
            ((3, 3), (1, 1), (1, 1)),
            ((1, 7), (1, 1), (0, 3)),
            ((7, 1), (1, 1), (3, 0)),
            ((5, 5), (1, 1), (2, 2)),
            ((3, 3), (2, 2), (1, 1)),
        ];
        for (i, &(kernel, stride, pad)) in shapes.iter().enumerate() {
            let (cin, cout) = (3, 20);
            let x = Act {
                c: cin,
                h: 11,
                w: 9,
                data: pseudo(cin * 99, i as u32),
            };
            let conv = Conv {
                weight: pseudo(cout * cin * kernel.0 * kernel.1, 100 + i as u32),
                bias: pseudo(cout, 200 + i as u32),
                cin,
                cout,
                kernel,
                stride,
                pad,
            };
            let want = naive(&conv, &x);
            for parallel in [false, true] {
                let got = conv.forward(x.view(), parallel);
                assert_eq!((got.c, got.h, got.w), (want.c, want.h, want.w));
                for (a, b) in got.data.iter().zip(&want.data) {
                    assert!(
                        (a - b).abs() < 1e-5,
                        "{kernel:?} {stride:?} {pad:?}: {a} vs {b}"
                    );
                }
            }
        }
    }

    #[test]
    fn pools() {
        let x = Act {
            c: 1,
            h: 3,
            w: 3,
            data: (1..=9).map(|v| v as f32).collect(),
        };
        let avg = pool_3x3_s1_same(x.view(), false);
        // Corner (0, 0): mean of 1, 2, 4, 5; centre: mean of all.
        assert_eq!(avg.data[0], 3.0);
        assert_eq!(avg.data[4], 5.0);
        let max = pool_3x3_s1_same(x.view(), true);
        assert_eq!(max.data, vec![5.0, 6.0, 6.0, 8.0, 9.0, 9.0, 8.0, 9.0, 9.0]);
        let x = Act {
            c: 1,
            h: 5,
            w: 5,
            data: (0..25).map(|v| v as f32).collect(),
        };
        let m = max_pool_3x3_s2(x.view());
        assert_eq!(
            (m.h, m.w, m.data.clone()),
            (2, 2, vec![12.0, 14.0, 22.0, 24.0])
        );
        assert_eq!(x.global_mean(), vec![12.0]);
    }
}
