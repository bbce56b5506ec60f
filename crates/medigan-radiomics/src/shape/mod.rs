//! Shape features of the mask, cropped to its bounding box: `shape2D` for 2D input (or 3D with
//! `force2D`) and `shape` for volumes, as pyradiomics computes them (its marching squares and
//! marching cubes meshes).

pub mod shape2d;
pub mod shape3d;
