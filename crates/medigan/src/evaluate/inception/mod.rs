//! The FID Inception-v3 network (pytorch-fid's weights), run natively: 2048-d pool3 features.
//!
//! This is pytorch-fid's `InceptionV3([3])` feature extractor: torchvision's Inception3 with the
//! FID patches of TensorFlow's 2015 graph (`FIDInceptionA`, `FIDInceptionC`: average pools that
//! leave the padding out of the mean; `FIDInceptionE_1`, `FIDInceptionE_2`, the latter with a
//! max pool in its pool branch), up to the final average pool. The weights are those of
//! `pt_inception-2015-12-05-6726825d.pth`, the file every published FID uses, read from its
//! PyTorch state dict by [`InceptionV3::from_pth`] (legacy or zip `torch.save` format).
//!
//! Resizing to 299 x 299 and scaling to [-1, 1] are the caller's: [`InceptionV3::features`]
//! takes the network's input as it is. Batch norm is folded into the convolutions at load time;
//! a convolution is im2col + sgemm. Images of a batch run in parallel on rayon's thread pool
//! (install a pool to bound it); a single image splits its larger products across the threads.
//!
//! Checked against pytorch-fid by `crates/medigan/tests/inception.rs`, with random weights
//! written by `scripts/inception_reference.py`.

pub mod onnx;
mod ops;
mod pickle;
mod pth;

use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayView4, Axis};
use rayon::prelude::*;

use ops::{Act, Conv};
use pickle::DType;
pub(crate) use pth::StateDict;

/// Length of the feature vector of one image (pool3).
pub const FEATURE_DIMS: usize = 2048;

/// Height and width of the network's input.
pub const INPUT_SIZE: usize = 299;

/// Epsilon of the network's batch norms (torchvision's `BasicConv2d`).
const BN_EPS: f64 = 0.001;

/// Failure to load the Inception weights or to run the network.
#[derive(Debug, thiserror::Error)]
pub enum InceptionError {
    /// The weights file could not be read.
    #[error("cannot read the Inception weights `{}`", path.display())]
    Io {
        /// The weights file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a PyTorch state-dict file this reader understands.
    #[error("`{}` is not a readable PyTorch state dict: {reason}", path.display())]
    Format {
        /// The weights file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A tensor the network needs is not in the state dict.
    #[error(
        "`{}` has no tensor `{name}`: not the FID Inception-v3 weights \
         (pt_inception-2015-12-05-6726825d.pth)?",
        path.display()
    )]
    MissingTensor {
        /// The weights file.
        path: PathBuf,
        /// The tensor's state-dict key.
        name: String,
    },
    /// A tensor of the state dict has another shape than the network's.
    #[error(
        "tensor `{name}` in `{}` has shape {found:?}, the FID Inception-v3 needs {expected:?}",
        path.display()
    )]
    Shape {
        /// The weights file.
        path: PathBuf,
        /// The tensor's state-dict key.
        name: String,
        /// The shape the network needs.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A tensor of the state dict is not float32.
    #[error("tensor `{name}` in `{}` holds {dtype}, not float32", path.display())]
    DType {
        /// The weights file.
        path: PathBuf,
        /// The tensor's state-dict key.
        name: String,
        /// Its element type.
        dtype: String,
    },
    /// The input batch is not N x 3 x 299 x 299.
    #[error("the Inception input has shape {found:?}, it must be [N, 3, 299, 299]")]
    InputShape {
        /// The shape given.
        found: Vec<usize>,
    },
}

/// pytorch-fid's FID Inception-v3 up to pool3, weights loaded and batch norm folded.
///
/// ```no_run
/// use medigan::evaluate::inception::{InceptionV3, FEATURE_DIMS, INPUT_SIZE};
/// let net = InceptionV3::from_pth("pt_inception-2015-12-05-6726825d.pth".as_ref())?;
/// let batch = ndarray::Array4::<f32>::zeros((4, 3, INPUT_SIZE, INPUT_SIZE));
/// let features = net.features(batch.view())?;
/// assert_eq!(features.dim(), (4, FEATURE_DIMS));
/// # Ok::<(), medigan::evaluate::inception::InceptionError>(())
/// ```
#[derive(Debug, Clone)]
pub struct InceptionV3 {
    conv1a: Conv,
    conv2a: Conv,
    conv2b: Conv,
    conv3b: Conv,
    conv4a: Conv,
    mixed5: [BlockA; 3],
    mixed6a: BlockB,
    mixed6: [BlockC; 4],
    mixed7a: BlockD,
    mixed7b: BlockE,
    mixed7c: BlockE,
}

impl InceptionV3 {
    /// Loads the weights from a PyTorch state-dict file (pt_inception-2015-12-05-6726825d.pth
    /// layout: torchvision Inception3 keys such as `Mixed_5b.branch1x1.conv.weight`; the `fc`
    /// and any other extra tensors are ignored).
    pub fn from_pth(path: &Path) -> Result<Self, InceptionError> {
        let mut sd = Loader {
            sd: StateDict::open(path)?,
            path,
        };
        let l = &mut sd;
        Ok(Self {
            conv1a: l.conv("Conv2d_1a_3x3", 3, 32, (3, 3), (2, 2), (0, 0))?,
            conv2a: l.conv("Conv2d_2a_3x3", 32, 32, (3, 3), (1, 1), (0, 0))?,
            conv2b: l.conv("Conv2d_2b_3x3", 32, 64, (3, 3), (1, 1), (1, 1))?,
            conv3b: l.conv("Conv2d_3b_1x1", 64, 80, (1, 1), (1, 1), (0, 0))?,
            conv4a: l.conv("Conv2d_4a_3x3", 80, 192, (3, 3), (1, 1), (0, 0))?,
            mixed5: [
                BlockA::load(l, "Mixed_5b", 192, 32)?,
                BlockA::load(l, "Mixed_5c", 256, 64)?,
                BlockA::load(l, "Mixed_5d", 288, 64)?,
            ],
            mixed6a: BlockB::load(l, "Mixed_6a", 288)?,
            mixed6: [
                BlockC::load(l, "Mixed_6b", 128)?,
                BlockC::load(l, "Mixed_6c", 160)?,
                BlockC::load(l, "Mixed_6d", 160)?,
                BlockC::load(l, "Mixed_6e", 192)?,
            ],
            mixed7a: BlockD::load(l, "Mixed_7a", 768)?,
            mixed7b: BlockE::load(l, "Mixed_7b", 1280, false)?,
            mixed7c: BlockE::load(l, "Mixed_7c", 2048, true)?,
        })
    }

    /// 2048-d pool3 features of a batch N x 3 x 299 x 299 with values in [-1, 1]: one row per
    /// image. Any memory layout is accepted; N = 0 gives an empty 0 x 2048 array.
    pub fn features(&self, batch: ArrayView4<'_, f32>) -> Result<Array2<f32>, InceptionError> {
        let (n, c, h, w) = batch.dim();
        if (c, h, w) != (3, INPUT_SIZE, INPUT_SIZE) {
            return Err(InceptionError::InputShape {
                found: batch.shape().to_vec(),
            });
        }
        let images: Vec<_> = batch.axis_iter(Axis(0)).collect();
        // Whole images per thread when there are enough of them; otherwise split each product.
        let split_products = n < 2 * rayon::current_num_threads();
        let rows: Vec<Vec<f32>> = images
            .into_par_iter()
            .map(|img| {
                let data = img.iter().copied().collect();
                self.forward(Act { c, h, w, data }, split_products)
            })
            .collect();
        let mut out = Array2::zeros((n, FEATURE_DIMS));
        for (mut row, feats) in out.axis_iter_mut(Axis(0)).zip(rows) {
            row.assign(&ndarray::ArrayView1::from(&feats));
        }
        Ok(out)
    }

    /// One image to its pool3 features.
    fn forward(&self, x: Act, par: bool) -> Vec<f32> {
        let x = self.conv1a.forward(x.view(), par);
        let x = self.conv2a.forward(x.view(), par);
        let x = self.conv2b.forward(x.view(), par);
        let x = ops::max_pool_3x3_s2(x.view());
        let x = self.conv3b.forward(x.view(), par);
        let x = self.conv4a.forward(x.view(), par);
        let mut x = ops::max_pool_3x3_s2(x.view());
        for block in &self.mixed5 {
            x = block.forward(&x, par);
        }
        x = self.mixed6a.forward(&x, par);
        for block in &self.mixed6 {
            x = block.forward(&x, par);
        }
        x = self.mixed7a.forward(&x, par);
        x = self.mixed7b.forward(&x, par);
        x = self.mixed7c.forward(&x, par);
        x.global_mean()
    }
}

/// Reads `BasicConv2d` layers out of the state dict, checking every shape.
struct Loader<'p> {
    sd: StateDict,
    path: &'p Path,
}

impl Loader<'_> {
    /// One float32 tensor of exactly `shape`.
    fn tensor(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, InceptionError> {
        let info = self
            .sd
            .info(name)
            .ok_or_else(|| InceptionError::MissingTensor {
                path: self.path.to_owned(),
                name: name.to_owned(),
            })?;
        if info.shape != shape {
            return Err(InceptionError::Shape {
                path: self.path.to_owned(),
                name: name.to_owned(),
                expected: shape.to_vec(),
                found: info.shape,
            });
        }
        if info.dtype != DType::F32 {
            return Err(InceptionError::DType {
                path: self.path.to_owned(),
                name: name.to_owned(),
                dtype: format!("{:?}", info.dtype).to_lowercase(),
            });
        }
        self.sd.read_f32(name)
    }

    /// `<prefix>.conv` (no bias) and `<prefix>.bn`, the batch norm folded into the convolution.
    fn conv(
        &mut self,
        prefix: &str,
        cin: usize,
        cout: usize,
        kernel: (usize, usize),
        stride: (usize, usize),
        pad: (usize, usize),
    ) -> Result<Conv, InceptionError> {
        let mut weight = self.tensor(
            &format!("{prefix}.conv.weight"),
            &[cout, cin, kernel.0, kernel.1],
        )?;
        let gamma = self.tensor(&format!("{prefix}.bn.weight"), &[cout])?;
        let beta = self.tensor(&format!("{prefix}.bn.bias"), &[cout])?;
        let mean = self.tensor(&format!("{prefix}.bn.running_mean"), &[cout])?;
        let var = self.tensor(&format!("{prefix}.bn.running_var"), &[cout])?;
        let per_out = cin * kernel.0 * kernel.1;
        let mut bias = Vec::with_capacity(cout);
        for (o, row) in weight.chunks_exact_mut(per_out).enumerate() {
            let scale = f64::from(gamma[o]) / (f64::from(var[o]) + BN_EPS).sqrt();
            for v in row {
                *v = (f64::from(*v) * scale) as f32;
            }
            bias.push((f64::from(beta[o]) - f64::from(mean[o]) * scale) as f32);
        }
        Ok(Conv {
            weight,
            bias,
            cin,
            cout,
            kernel,
            stride,
            pad,
        })
    }

    /// A 1 x 1 convolution.
    /// A square `kernel` x `kernel` convolution with the same stride and padding on both axes.
    fn square(
        &mut self,
        prefix: &str,
        cin: usize,
        cout: usize,
        kernel: usize,
        stride: usize,
        pad: usize,
    ) -> Result<Conv, InceptionError> {
        let (kernel, stride, pad) = ((kernel, kernel), (stride, stride), (pad, pad));
        self.conv(prefix, cin, cout, kernel, stride, pad)
    }

    fn pointwise(&mut self, prefix: &str, cin: usize, cout: usize) -> Result<Conv, InceptionError> {
        self.conv(prefix, cin, cout, (1, 1), (1, 1), (0, 0))
    }
}

/// `FIDInceptionA`: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avg pool (padding left out)-1x1.
#[derive(Debug, Clone)]
struct BlockA {
    /// branch1x1 (64), branch5x5_1 (48), branch3x3dbl_1 (64), stacked.
    stem: Conv,
    b5x5_2: Conv,
    b3x3dbl_2: Conv,
    b3x3dbl_3: Conv,
    pool: Conv,
}

impl BlockA {
    fn load(l: &mut Loader<'_>, p: &str, cin: usize, pool: usize) -> Result<Self, InceptionError> {
        Ok(Self {
            stem: Conv::stack(vec![
                l.pointwise(&format!("{p}.branch1x1"), cin, 64)?,
                l.pointwise(&format!("{p}.branch5x5_1"), cin, 48)?,
                l.pointwise(&format!("{p}.branch3x3dbl_1"), cin, 64)?,
            ]),
            b5x5_2: l.conv(&format!("{p}.branch5x5_2"), 48, 64, (5, 5), (1, 1), (2, 2))?,
            b3x3dbl_2: l.square(&format!("{p}.branch3x3dbl_2"), 64, 96, 3, 1, 1)?,
            b3x3dbl_3: l.square(&format!("{p}.branch3x3dbl_3"), 96, 96, 3, 1, 1)?,
            pool: l.pointwise(&format!("{p}.branch_pool"), cin, pool)?,
        })
    }

    fn forward(&self, x: &Act, par: bool) -> Act {
        let stem = self.stem.forward(x.view(), par);
        let b5 = self.b5x5_2.forward(stem.channels(64, 48), par);
        let d = self.b3x3dbl_2.forward(stem.channels(112, 64), par);
        let d = self.b3x3dbl_3.forward(d.view(), par);
        let pool = ops::pool_3x3_s1_same(x.view(), false);
        let pool = self.pool.forward(pool.view(), par);
        Act::concat(&[stem.channels(0, 64), b5.view(), d.view(), pool.view()])
    }
}

/// torchvision's `InceptionB` (Mixed_6a): 3x3/2 | 1x1-3x3-3x3/2 | max pool/2.
#[derive(Debug, Clone)]
struct BlockB {
    b3x3: Conv,
    b3x3dbl_1: Conv,
    b3x3dbl_2: Conv,
    b3x3dbl_3: Conv,
}

impl BlockB {
    fn load(l: &mut Loader<'_>, p: &str, cin: usize) -> Result<Self, InceptionError> {
        Ok(Self {
            b3x3: l.conv(&format!("{p}.branch3x3"), cin, 384, (3, 3), (2, 2), (0, 0))?,
            b3x3dbl_1: l.pointwise(&format!("{p}.branch3x3dbl_1"), cin, 64)?,
            b3x3dbl_2: l.square(&format!("{p}.branch3x3dbl_2"), 64, 96, 3, 1, 1)?,
            b3x3dbl_3: l.square(&format!("{p}.branch3x3dbl_3"), 96, 96, 3, 2, 0)?,
        })
    }

    fn forward(&self, x: &Act, par: bool) -> Act {
        let b3 = self.b3x3.forward(x.view(), par);
        let d = self.b3x3dbl_1.forward(x.view(), par);
        let d = self.b3x3dbl_2.forward(d.view(), par);
        let d = self.b3x3dbl_3.forward(d.view(), par);
        let pool = ops::max_pool_3x3_s2(x.view());
        Act::concat(&[b3.view(), d.view(), pool.view()])
    }
}

/// `FIDInceptionC`: 1x1 | 1x1-1x7-7x1 | 1x1-7x1-1x7-7x1-1x7 | avg pool (padding left out)-1x1.
#[derive(Debug, Clone)]
struct BlockC {
    /// branch1x1 (192), branch7x7_1 (c7), branch7x7dbl_1 (c7), stacked.
    stem: Conv,
    c7: usize,
    b7x7_2: Conv,
    b7x7_3: Conv,
    dbl: [Conv; 4],
    pool: Conv,
}

impl BlockC {
    fn load(l: &mut Loader<'_>, p: &str, c7: usize) -> Result<Self, InceptionError> {
        let (row, col) = (((1, 7), (0, 3)), ((7, 1), (3, 0)));
        let mut conv = |name: &str, cin, cout, (kernel, pad)| {
            l.conv(&format!("{p}.{name}"), cin, cout, kernel, (1, 1), pad)
        };
        let b7x7_2 = conv("branch7x7_2", c7, c7, row)?;
        let b7x7_3 = conv("branch7x7_3", c7, 192, col)?;
        let dbl = [
            conv("branch7x7dbl_2", c7, c7, col)?,
            conv("branch7x7dbl_3", c7, c7, row)?,
            conv("branch7x7dbl_4", c7, c7, col)?,
            conv("branch7x7dbl_5", c7, 192, row)?,
        ];
        Ok(Self {
            stem: Conv::stack(vec![
                l.pointwise(&format!("{p}.branch1x1"), 768, 192)?,
                l.pointwise(&format!("{p}.branch7x7_1"), 768, c7)?,
                l.pointwise(&format!("{p}.branch7x7dbl_1"), 768, c7)?,
            ]),
            c7,
            b7x7_2,
            b7x7_3,
            dbl,
            pool: l.pointwise(&format!("{p}.branch_pool"), 768, 192)?,
        })
    }

    fn forward(&self, x: &Act, par: bool) -> Act {
        let stem = self.stem.forward(x.view(), par);
        let b7 = self.b7x7_2.forward(stem.channels(192, self.c7), par);
        let b7 = self.b7x7_3.forward(b7.view(), par);
        let mut d = self.dbl[0].forward(stem.channels(192 + self.c7, self.c7), par);
        for conv in &self.dbl[1..] {
            d = conv.forward(d.view(), par);
        }
        let pool = ops::pool_3x3_s1_same(x.view(), false);
        let pool = self.pool.forward(pool.view(), par);
        Act::concat(&[stem.channels(0, 192), b7.view(), d.view(), pool.view()])
    }
}

/// torchvision's `InceptionD` (Mixed_7a): 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | max pool/2.
#[derive(Debug, Clone)]
struct BlockD {
    /// branch3x3_1 (192), branch7x7x3_1 (192), stacked.
    stem: Conv,
    b3x3_2: Conv,
    b7x7x3: [Conv; 3],
}

impl BlockD {
    fn load(l: &mut Loader<'_>, p: &str, cin: usize) -> Result<Self, InceptionError> {
        Ok(Self {
            stem: Conv::stack(vec![
                l.pointwise(&format!("{p}.branch3x3_1"), cin, 192)?,
                l.pointwise(&format!("{p}.branch7x7x3_1"), cin, 192)?,
            ]),
            b3x3_2: l.square(&format!("{p}.branch3x3_2"), 192, 320, 3, 2, 0)?,
            b7x7x3: [
                l.conv(
                    &format!("{p}.branch7x7x3_2"),
                    192,
                    192,
                    (1, 7),
                    (1, 1),
                    (0, 3),
                )?,
                l.conv(
                    &format!("{p}.branch7x7x3_3"),
                    192,
                    192,
                    (7, 1),
                    (1, 1),
                    (3, 0),
                )?,
                l.square(&format!("{p}.branch7x7x3_4"), 192, 192, 3, 2, 0)?,
            ],
        })
    }

    fn forward(&self, x: &Act, par: bool) -> Act {
        let stem = self.stem.forward(x.view(), par);
        let b3 = self.b3x3_2.forward(stem.channels(0, 192), par);
        let mut b7 = self.b7x7x3[0].forward(stem.channels(192, 192), par);
        for conv in &self.b7x7x3[1..] {
            b7 = conv.forward(b7.view(), par);
        }
        let pool = ops::max_pool_3x3_s2(x.view());
        Act::concat(&[b3.view(), b7.view(), pool.view()])
    }
}

/// `FIDInceptionE_1` / `FIDInceptionE_2`: 1x1 | 1x1-(1x3, 3x1) | 1x1-3x3-(1x3, 3x1) |
/// pool-1x1, the pool an average leaving the padding out (E_1) or a max (E_2).
#[derive(Debug, Clone)]
struct BlockE {
    /// branch1x1 (320), branch3x3_1 (384), branch3x3dbl_1 (448), stacked.
    stem: Conv,
    b3x3_2a: Conv,
    b3x3_2b: Conv,
    dbl_2: Conv,
    dbl_3a: Conv,
    dbl_3b: Conv,
    pool: Conv,
    max_pool: bool,
}

impl BlockE {
    fn load(
        l: &mut Loader<'_>,
        p: &str,
        cin: usize,
        max_pool: bool,
    ) -> Result<Self, InceptionError> {
        let (row, col) = (((1, 3), (0, 1)), ((3, 1), (1, 0)));
        let mut conv = |name: &str, cin, cout, (kernel, pad)| {
            l.conv(&format!("{p}.{name}"), cin, cout, kernel, (1, 1), pad)
        };
        let b3x3_2a = conv("branch3x3_2a", 384, 384, row)?;
        let b3x3_2b = conv("branch3x3_2b", 384, 384, col)?;
        let dbl_2 = conv("branch3x3dbl_2", 448, 384, ((3, 3), (1, 1)))?;
        let dbl_3a = conv("branch3x3dbl_3a", 384, 384, row)?;
        let dbl_3b = conv("branch3x3dbl_3b", 384, 384, col)?;
        Ok(Self {
            stem: Conv::stack(vec![
                l.pointwise(&format!("{p}.branch1x1"), cin, 320)?,
                l.pointwise(&format!("{p}.branch3x3_1"), cin, 384)?,
                l.pointwise(&format!("{p}.branch3x3dbl_1"), cin, 448)?,
            ]),
            b3x3_2a,
            b3x3_2b,
            dbl_2,
            dbl_3a,
            dbl_3b,
            pool: l.pointwise(&format!("{p}.branch_pool"), cin, 192)?,
            max_pool,
        })
    }

    fn forward(&self, x: &Act, par: bool) -> Act {
        let stem = self.stem.forward(x.view(), par);
        let b3 = stem.channels(320, 384);
        let b3a = self.b3x3_2a.forward(b3, par);
        let b3b = self.b3x3_2b.forward(b3, par);
        let d = self.dbl_2.forward(stem.channels(704, 448), par);
        let da = self.dbl_3a.forward(d.view(), par);
        let db = self.dbl_3b.forward(d.view(), par);
        let pool = ops::pool_3x3_s1_same(x.view(), self.max_pool);
        let pool = self.pool.forward(pool.view(), par);
        Act::concat(&[
            stem.channels(0, 320),
            b3a.view(),
            b3b.view(),
            da.view(),
            db.view(),
            pool.view(),
        ])
    }
}
