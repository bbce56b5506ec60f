"""Evaluation of image folders: FID, KID, precision/recall/density/coverage, and the
memorisation audit, computed by the Rust core from one embedding of each folder.

    from medigan_rs import metrics, audit
    report = metrics("real/", "synthetic/", metrics="fid,kid,prdc")
    report["kid"]["mean"], report["prdc"]["precision"]
    copies = audit("synthetic/", "train/", holdout="holdout/")["flagged"]

The dicts are those `medigan --json metrics` and `medigan --json audit` print. The extractor is
``"inception"`` (pytorch-fid's FID Inception-v3; its weights are fetched once into the cache
unless ``inception_weights`` names the file) or ``"onnx:PATH"`` (a network whose first output
is the feature vector; ``input_size`` when the graph does not fix it).
"""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence, Union

from . import _native

PathLike = Union[str, "os.PathLike[str]"]
#: ``N``, ``(H, W)`` or ``"HxW"``.
InputSize = Union[None, int, str, tuple[int, int]]


def metrics(
    real: Optional[PathLike] = None,
    synthetic: Optional[PathLike] = None,
    *,
    extractor: str = "inception",
    metrics: Optional[str] = None,
    repeats: int = 1,
    nearest_k: int = 5,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    seed: int = 0,
    split_seed: int = 0,
    batch_size: int = 32,
    threads: Optional[int] = None,
    normalize: bool = False,
    input_size: InputSize = None,
    range: Optional[tuple[float, float]] = None,
    mean: Optional[Sequence[float]] = None,
    std: Optional[Sequence[float]] = None,
    output_name: Optional[str] = None,
    npy_range: Optional[tuple[float, float]] = None,
    inception_weights: Optional[PathLike] = None,
    cache_dir: Optional[PathLike] = None,
    metric_key: Optional[str] = None,
    home: Optional[PathLike] = None,
    offline: Optional[bool] = None,
    backend: Optional[str] = None,
    save_stats: Optional[PathLike] = None,
    merge_stats: Optional[Sequence[PathLike]] = None,
    real_stats: Optional[Sequence[PathLike]] = None,
    volumes: str = "slices",
    center_slices: Optional[float] = None,
    every_slice: int = 1,
    empty_below: Optional[float] = None,
    clip: Optional[tuple[float, float]] = None,
    frd_version: Union[int, str] = 1,
    paper_log: bool = False,
) -> dict[str, Any]:
    """FID (with FID_rr and rFID), KID, and precision/recall/density/coverage of the images of
    ``synthetic`` against those of ``real``.

    Sharded evaluation: ``save_stats="shard1.stats"`` also writes the exact feature statistics
    of both sets; ``metrics(merge_stats=["shard1.stats", "shard2.stats"])`` (no folders) gives
    the FID of the union of the shards' synthetic sets, bit-identical to one pass over all the
    images, against the real set the files share, or the union of the real sets of the
    ``real_stats`` files. Merged statistics give FID only (``metrics`` defaults to ``"fid"``
    there; KID, PRDC and CMMD need the features themselves and are refused).

    Volumes: ``volumes="planes"`` gives the 2.5D FID of two folders of volumes (``.nii``,
    ``.nii.gz``, ``.npy`` [D, H, W]): the FID of the axial, coronal and sagittal slices and
    their mean (``{"planes": [...], "fid_mean": ...}``), with NV-Generate's slice options
    ``center_slices`` (central fraction), ``every_slice``, ``empty_below`` and ``clip``.

    ``metrics`` lists what to compute (``fid``, ``kid``, ``prdc``, ``cmmd``, ``frd``; ``frd`` is
    the Frechet Radiomics Distance of the two folders (see `frd`), with ``frd_version`` and
    ``paper_log``, reported under ``"frd"``; CMMD, the
    Gaussian-kernel MMD of Jayasumana et al. 2024 on L2-normalised embeddings, is meaningful
    with an ``onnx:`` CLIP image tower as extractor); ``repeats`` > 1 splits the
    synthetic folder into that many disjoint parts and reports each metric's mean and 95%
    interval (the real set is bootstrapped with ``seed``). ``nearest_k`` is PRDC's k;
    ``kid_subsets`` and ``kid_subset_size`` KID's subsets. ``split_seed`` draws the halves of
    the real set for FID_rr. ``cache_dir`` keeps features between calls. An ONNX extractor's
    input is prepared by ``input_size`` (``N``, ``(H, W)`` or ``"HxW"``), ``range`` (images in
    [0, 1] mapped to it, default ``(-1, 1)``), ``mean`` and ``std`` (one value or three) and
    ``output_name`` (default: its first output). Returns the report as a dict (``fid``,
    ``kid``, ``prdc``, ``cmmd`` when asked, ``intervals``, ``provenance``, ``catalog``). A bad value raises
    `EvaluationOptionError` (a ``ValueError``) before anything is read.
    """
    if merge_stats is not None:
        if real is not None or synthetic is not None:
            raise TypeError("merge_stats= reads no images: give no real or synthetic folder")
        return _native.merge_stats(
            [os.fspath(p) for p in merge_stats],
            real_stats=None if real_stats is None else [os.fspath(p) for p in real_stats],
            metrics="fid" if metrics is None else metrics,
            metric_key=metric_key,
        )
    if real_stats is not None:
        raise TypeError("real_stats= goes with merge_stats=")
    if volumes not in ("slices", "planes"):
        raise ValueError(f"volumes= is 'slices' or 'planes', not {volumes!r}")
    if volumes == "planes":
        if real is None or synthetic is None:
            raise TypeError("metrics(volumes='planes') needs the real and synthetic folders")
        return _native.metrics_planes(
            real,
            synthetic,
            extractor=extractor,
            metrics="fid" if metrics is None else metrics,
            center_slices=center_slices,
            every_slice=every_slice,
            empty_below=empty_below,
            clip=clip,
            batch_size=batch_size,
            threads=threads,
            normalize=normalize,
            input_size=input_size,
            range=range,
            mean=mean,
            std=std,
            output_name=output_name,
            inception_weights=inception_weights,
            home=home,
            offline=offline,
            backend=backend,
        )[0]
    if real is None or synthetic is None:
        raise TypeError("metrics() needs the real and synthetic folders (or merge_stats=)")
    return _native.metrics(
        real,
        synthetic,
        extractor=extractor,
        metrics="fid,kid,prdc" if metrics is None else metrics,
        repeats=repeats,
        nearest_k=nearest_k,
        kid_subsets=kid_subsets,
        kid_subset_size=kid_subset_size,
        seed=seed,
        split_seed=split_seed,
        batch_size=batch_size,
        threads=threads,
        normalize=normalize,
        input_size=input_size,
        range=range,
        mean=mean,
        std=std,
        output_name=output_name,
        npy_range=npy_range,
        inception_weights=inception_weights,
        cache_dir=cache_dir,
        metric_key=metric_key,
        home=home,
        offline=offline,
        backend=backend,
        save_stats=save_stats,
        frd_version=str(frd_version),
        paper_log=paper_log,
    )


def frd(
    real: Optional[PathLike] = None,
    synthetic: Optional[PathLike] = None,
    *,
    version: Union[int, str] = 1,
    masks: Optional[tuple[PathLike, PathLike]] = None,
    paper_log: bool = False,
    save_stats: Optional[PathLike] = None,
    merge_stats: Optional[Sequence[PathLike]] = None,
) -> dict[str, Any]:
    """The Frechet Radiomics Distance (frd-score 1.0.1's FRD) of the images of ``synthetic``
    against those of ``real``, with the radiomics features computed natively on every core.

    ``version`` 1 (default): pyradiomics' first-order, GLCM, GLRLM, GLSZM and NGTDM features of
    the original and wavelet images (and LoG images for volumes), z-scored on ``real``;
    the value is ``ln(d^2)`` (``paper_log=True``: ``ln(d)``, the paper's Eq. 3). ``version``
    0: the original image only, min-max scaled, ``d^2``. Images: ``.png``/``.jpg`` (2D) or
    ``.nii``/``.nii.gz`` (volumes) directly in each folder; ``masks`` are two folders whose
    sorted files pair with the images (default: the whole image). Returns what
    ``medigan --json frd`` prints (``frd``, ``version``, ``convention``, ``squared_distance``,
    feature and image counts).

    Sharded: ``save_stats="shard1.frd"`` also writes both sets' features;
    ``frd(merge_stats=["shard1.frd", "shard2.frd"])`` (no folders) gives the FRD of the union
    of the shards' synthetic sets against their common real set, bit-identical to one pass.
    """
    if merge_stats is not None and (real is not None or synthetic is not None):
        raise TypeError("merge_stats= reads no images: give no real or synthetic folder")
    return _native.frd(
        real,
        synthetic,
        version=str(version),
        masks=None if masks is None else (os.fspath(masks[0]), os.fspath(masks[1])),
        paper_log=paper_log,
        save_stats=save_stats,
        merge_stats=None if merge_stats is None else [os.fspath(p) for p in merge_stats],
    )


def evaluate_models(
    models: Union[str, Sequence[str]],
    real: PathLike,
    *,
    num_samples: Optional[int] = None,
    seed: int = 0,
    install_dependencies: bool = False,
    extractor: str = "inception",
    metrics: str = "fid",
    repeats: int = 1,
    nearest_k: int = 5,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    resample_seed: int = 0,
    split_seed: int = 0,
    batch_size: int = 32,
    threads: Optional[int] = None,
    normalize: bool = False,
    input_size: InputSize = None,
    range: Optional[tuple[float, float]] = None,
    mean: Optional[Sequence[float]] = None,
    std: Optional[Sequence[float]] = None,
    output_name: Optional[str] = None,
    npy_range: Optional[tuple[float, float]] = None,
    inception_weights: Optional[PathLike] = None,
    cache_dir: Optional[PathLike] = None,
    metric_key: Optional[str] = None,
    catalog: Optional[Sequence[str]] = None,
    home: Optional[PathLike] = None,
    offline: Optional[bool] = None,
    backend: Optional[str] = None,
    per_class: bool = False,
    volumes: str = "slices",
    center_slices: Optional[float] = None,
    every_slice: int = 1,
    empty_below: Optional[float] = None,
    clip: Optional[tuple[float, float]] = None,
) -> list[dict[str, Any]]:
    """Generates each model's samples (``num_samples`` per repeat, default: as many as ``real``
    has images, from ``seed``) and evaluates them against ``real``, embedded once: what
    ``medigan evaluate`` does. The keywords are those of `metrics` (``resample_seed`` is its
    ``seed``); a model in the original Python format runs only with
    ``install_dependencies=True``. Returns one report per model.

    ``per_class=True`` (a conditional model): ``real`` holds one subfolder per class label
    (``real/benign/``, ``real/malignant/``); each is compared with the model's samples of that
    class (``num_samples`` per class, default: as many as its real images), then all classes
    together: reports ``"MODEL [CLASS]"`` per class, then ``"MODEL [all classes]"``.

    ``volumes="planes"`` (a 3D model): the 2.5D FID of its samples against the volumes of
    ``real``, per plane and the mean, with the slice options of `metrics`.
    """
    if isinstance(models, str):
        models = [models]
    if volumes not in ("slices", "planes"):
        raise ValueError(f"volumes= is 'slices' or 'planes', not {volumes!r}")
    if volumes == "planes":
        return _native.metrics_planes(
            real,
            models=[str(m) for m in models],
            num_samples=num_samples,
            seed=seed,
            catalog=None if catalog is None else [str(c) for c in catalog],
            extractor=extractor,
            metrics=metrics,
            center_slices=center_slices,
            every_slice=every_slice,
            empty_below=empty_below,
            clip=clip,
            batch_size=batch_size,
            threads=threads,
            normalize=normalize,
            input_size=input_size,
            range=range,
            mean=mean,
            std=std,
            output_name=output_name,
            inception_weights=inception_weights,
            home=home,
            offline=offline,
            backend=backend,
        )
    return _native.evaluate_models(
        [str(m) for m in models],
        real,
        num_samples=num_samples,
        seed=seed,
        install_dependencies=install_dependencies,
        extractor=extractor,
        metrics=metrics,
        repeats=repeats,
        nearest_k=nearest_k,
        kid_subsets=kid_subsets,
        kid_subset_size=kid_subset_size,
        resample_seed=resample_seed,
        split_seed=split_seed,
        batch_size=batch_size,
        threads=threads,
        normalize=normalize,
        input_size=input_size,
        range=range,
        mean=mean,
        std=std,
        output_name=output_name,
        npy_range=npy_range,
        inception_weights=inception_weights,
        cache_dir=cache_dir,
        metric_key=metric_key,
        catalog=None if catalog is None else [str(c) for c in catalog],
        home=home,
        offline=offline,
        backend=backend,
        per_class=per_class,
    )


def audit(
    synthetic: Union[PathLike, int],
    train: PathLike,
    holdout: Optional[PathLike] = None,
    *,
    num_samples: Optional[int] = None,
    seed: int = 0,
    install_dependencies: bool = False,
    gallery: Optional[PathLike] = None,
    pairs: int = 24,
    extractor: str = "inception",
    pixel_size: int = 32,
    max_shift: int = 2,
    margin: float = 0.5,
    pixel_metric: str = "ncc",
    batch_size: int = 32,
    threads: Optional[int] = None,
    normalize: bool = False,
    input_size: InputSize = None,
    range: Optional[tuple[float, float]] = None,
    mean: Optional[Sequence[float]] = None,
    std: Optional[Sequence[float]] = None,
    output_name: Optional[str] = None,
    npy_range: Optional[tuple[float, float]] = None,
    inception_weights: Optional[PathLike] = None,
    cache_dir: Optional[PathLike] = None,
    catalog: Optional[Sequence[PathLike]] = None,
    home: Optional[PathLike] = None,
    offline: Optional[bool] = None,
    backend: Optional[str] = None,
) -> dict[str, Any]:
    """Does a model copy its training images? ``synthetic`` is a folder of synthetic images or
    a model id (``num_samples`` of its samples, default as many as the training images, from
    the run of ``seed``; a model in the original Python format runs only with
    ``install_dependencies=True``). For every synthetic image: its closest image of ``train``
    in feature space and in pixel space (``pixel_size`` square, mirrored and shifted by up to
    ``max_shift`` pixels), flagged as a likely copy when closer than ``margin`` times the
    closest image of ``holdout`` (new real images never trained on; the training set against
    itself without one). ``pixel_metric`` is ``"ncc"`` (normalised correlation) or ``"ssim"``
    (structural similarity of the most correlated images). ``gallery`` names a new (or empty)
    folder for an HTML page of the ``pairs`` closest pairs. Returns the report as a dict
    (``flagged``, ``matches``, ``feature_threshold``, ``pixel_threshold``, ``catalog``,
    ``gallery``), as ``medigan --json audit`` prints it.
    """
    return _native.audit(
        str(synthetic) if isinstance(synthetic, int) else synthetic,
        train,
        holdout,
        num_samples=num_samples,
        seed=seed,
        install_dependencies=install_dependencies,
        gallery=gallery,
        pairs=pairs,
        extractor=extractor,
        pixel_size=pixel_size,
        max_shift=max_shift,
        margin=margin,
        pixel_metric=pixel_metric,
        batch_size=batch_size,
        threads=threads,
        normalize=normalize,
        input_size=input_size,
        range=range,
        mean=mean,
        std=std,
        output_name=output_name,
        npy_range=npy_range,
        inception_weights=inception_weights,
        cache_dir=cache_dir,
        catalog=None if catalog is None else [str(c) for c in catalog],
        home=home,
        offline=offline,
        backend=backend,
    )
