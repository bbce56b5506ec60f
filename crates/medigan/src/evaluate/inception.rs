//! The FID Inception-v3 network (pytorch-fid's weights), run natively.
