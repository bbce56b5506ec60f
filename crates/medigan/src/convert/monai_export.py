"""medigan convert, MONAI bundle source: build the bundle's networks from the arguments the Rust
side read off configs/inference.json (no bundle expression is evaluated here), load their
weights, export the denoiser and the decoder to ONNX, and run MONAI's own
LatentDiffusionInferer.sample from given initial noise, for the Rust side to compare with the
converted package. Runs after folder_export.py (Refusal, answer, export, graph_error, run),
which the Rust side prepends.

Request (one JSON line on stdin):
  {"out", "work", "opset", "samples", "steps", "seed", "scale_factor", "latent_shape",
   "range": [low, high],
   "network": {"args", "weights", "loader", "key"}, "autoencoder": {"args", "weights", "loader", "key"},
   "scheduler": {"class", "args"}}
Answer (the last line of stdout): {"ok": true, ...} or {"ok": false, "kind", "error", "traceback"}.
Runs on CPU, float32. Writes <out>/denoiser.onnx, <out>/decoder.onnx, <work>/initial_noise.npy
and <work>/reference-0.npy (float32 [N, C, H, W], the inferer's output clipped to `range`).

A MAISI-shaped bundle (the request has "maisi": {"classes", "label", "spacing", "spacing_scale",
"output_size", "sliding_window": {"roi", "overlap"} | null, "scale_factor_from": [file, key] | null})
goes through maisi_main(): the networks are built from their `class` (a MONAI class), the
denoiser exported with its class-label and spacing inputs, the decoder on one window, and the
reference is MAISI's own sampling loop (NV-Generate's diff_model_infer.py) written here from
MONAI's scheduler and SlidingWindowInferer: no bundle code runs.
"""

import contextlib


def build(cls, spec, what):
    """The network from its literal arguments, its weights loaded as the bundle loads them."""
    import torch

    try:
        network = cls(**spec["args"])
    except Exception as error:
        raise Refusal("load", f"MONAI cannot build the {what} from the bundle's arguments: {type(error).__name__}: {error}")
    try:
        state = torch.load(spec["weights"], map_location="cpu", weights_only=True)
    except Exception as error:
        raise Refusal("load", f"cannot read the {what}'s weights `{spec['weights']}` (as plain tensors): {type(error).__name__}: {error}")
    if spec.get("key"):
        state = state[spec["key"]]
    with contextlib.redirect_stdout(sys.stderr):
        try:
            getattr(network, spec["loader"])(state)
        except Exception as error:
            raise Refusal("load", f"the {what}'s weights do not fit its arguments: {type(error).__name__}: {str(error)[:600]}")
    return network.eval()


def monai_class(path):
    """A MONAI class from its dotted path (the Rust side accepted only MONAI's classes)."""
    import importlib

    module, _, name = path.rpartition(".")
    if not module.startswith("monai."):
        raise Refusal("load", f"`{path}` is not a MONAI class")
    return getattr(importlib.import_module(module), name)


def maisi_main(request):
    import numpy as np
    import torch
    import monai
    from monai.inferers import SlidingWindowInferer
    from monai.networks import schedulers

    torch.set_grad_enabled(False)
    out, work, opset = request["out"], request["work"], request["opset"]
    maisi = request["maisi"]
    unet = build(monai_class(request["network"]["class"]), request["network"], "network")
    autoencoder = build(monai_class(request["autoencoder"]["class"]), request["autoencoder"], "autoencoder")
    latent_shape = [int(v) for v in request["latent_shape"]]
    scale_factor = float(request["scale_factor"])
    if maisi.get("scale_factor_from"):
        file, key = maisi["scale_factor_from"]
        checkpoint = torch.load(os.path.join(request["source"], file), map_location="cpu", weights_only=True)
        try:
            scale_factor = float(checkpoint[key])
        except Exception as error:
            raise Refusal("load", f"the scale factor `{key}` of `{file}`: {type(error).__name__}: {error}")
    classes, spacing = maisi.get("classes"), maisi.get("spacing")
    spacing_scale = float(maisi.get("spacing_scale", 100.0))
    names = ["sample", "timestep"] + (["class_labels"] if classes else []) + (["spacing_tensor"] if spacing else [])

    class Denoiser(torch.nn.Module):
        def __init__(self, unet):
            super().__init__()
            self.unet = unet

        def forward(self, sample, timestep, *conditioning):
            extra = dict(zip(names[2:], conditioning))
            return self.unet(sample, timestep, **extra)

    class Decoder(torch.nn.Module):
        """MAISI's ReconModel less the scale factor (the sampler divides by it)."""

        def __init__(self, autoencoder):
            super().__init__()
            self.autoencoder = autoencoder

        def forward(self, latent):
            return self.autoencoder.decode_stage_2_outputs(latent)

    def feeds(batch):
        g = torch.Generator().manual_seed(batch)
        values = [torch.randn((batch, *latent_shape), generator=g), torch.full((batch,), 500.5)]
        if classes:
            values.append(torch.full((batch,), int(maisi["label"]), dtype=torch.long))
        if spacing:
            values.append(torch.tensor([spacing] * batch, dtype=torch.float32) * spacing_scale)
        return values

    window = maisi.get("sliding_window")
    roi = [int(v) for v in window["roi"]] if window else latent_shape[1:]

    def latents(batch):
        g = torch.Generator().manual_seed(batch)
        return [torch.randn((batch, latent_shape[0], *roi), generator=g)]

    denoiser = Denoiser(unet).eval()
    denoiser_path = os.path.join(out, "denoiser.onnx")
    export(denoiser, feeds(2), names, ["noise_pred"], denoiser_path, opset)
    denoiser_error, checker = graph_error(denoiser_path, denoiser, feeds(3), names)
    decoder = Decoder(autoencoder).eval()
    decoder_path = os.path.join(out, "decoder.onnx")
    export(decoder, latents(2), ["latent"], ["image"], decoder_path, opset)
    decoder_error, _ = graph_error(decoder_path, decoder, latents(3), ["latent"])
    channels = int(decoder(latents(1)[0]).shape[1])
    image_shape = [channels] + [int(v) for v in maisi["output_size"]]

    # MAISI's loop (diff_model_infer.py), on CPU in float32, each timestep given to every sample.
    scheduler_class = getattr(schedulers, request["scheduler"]["class"])
    accepted = set(inspect.signature(scheduler_class).parameters) | {"beta_start", "beta_end", "sig_range", "s"}
    args = {k: v for k, v in request["scheduler"]["args"].items() if k in accepted}
    scheduler = scheduler_class(**args)
    samples, steps = request["samples"], request["steps"]
    noise = torch.randn((samples, *latent_shape), generator=torch.Generator().manual_seed(request.get("seed", 0)))
    np.save(os.path.join(work, "initial_noise.npy"), noise.numpy().astype(np.float32))
    started = time.perf_counter()
    if isinstance(scheduler, schedulers.RFlowScheduler):
        numel = int(np.prod(latent_shape[1:]))
        scheduler.set_timesteps(num_inference_steps=steps, input_img_size_numel=numel)
    else:
        scheduler.set_timesteps(num_inference_steps=steps)
    all_timesteps = scheduler.timesteps
    all_next = torch.cat((all_timesteps[1:], torch.tensor([0], dtype=all_timesteps.dtype)))
    extra = {}
    if classes:
        extra["class_labels"] = torch.full((samples,), int(maisi["label"]), dtype=torch.long)
    if spacing:
        extra["spacing_tensor"] = torch.tensor([spacing] * samples, dtype=torch.float32) * spacing_scale
    image = noise
    for t, next_t in zip(all_timesteps, all_next):
        timesteps = torch.full((samples,), float(t))
        if not isinstance(scheduler, schedulers.RFlowScheduler):
            timesteps = timesteps.long()
        model_output = unet(x=image, timesteps=timesteps, **extra)
        if isinstance(scheduler, schedulers.RFlowScheduler):
            image, _ = scheduler.step(model_output, t, image, next_t)
        else:
            image, _ = scheduler.step(model_output, t, image)

    def recon(z):
        return autoencoder.decode_stage_2_outputs(z / scale_factor)

    if window:
        inferer = SlidingWindowInferer(roi_size=roi, sw_batch_size=1, mode="gaussian", overlap=float(window["overlap"]))
        images = inferer(inputs=image, network=recon)
    else:
        images = recon(image)
    seconds = time.perf_counter() - started
    low, high = request["range"]
    path = os.path.join(work, "reference-0.npy")
    np.save(path, images.clamp(low, high).numpy().astype(np.float32))
    answer({"ok": True, "torch": torch.__version__.split("+")[0], "monai": monai.__version__,
            "noise_shape": latent_shape, "image_shape": image_shape, "checker": checker,
            "denoiser_error": denoiser_error, "decoder_error": decoder_error,
            "scale_factor": scale_factor,
            "reference": [{"label": maisi["label"] if classes else None, "file": path, "seconds": seconds}],
            "reference_pipeline": "MAISI's sampling loop (diff_model_infer.py) from MONAI's scheduler and SlidingWindowInferer",
            "reference_scheduler": f"monai.networks.schedulers.{scheduler_class.__name__}",
            "threads": torch.get_num_threads()})


def main():
    request = json.loads(sys.stdin.readline())
    configure_external_data(request)
    if request.get("maisi"):
        return maisi_main(request)
    import numpy as np
    import torch
    import monai
    from monai.inferers import LatentDiffusionInferer
    from monai.networks import schedulers
    from monai.networks.nets import AutoencoderKL, DiffusionModelUNet

    torch.set_grad_enabled(False)
    out, work, opset = request["out"], request["work"], request["opset"]
    unet = build(DiffusionModelUNet, request["network"], "network")
    autoencoder = build(AutoencoderKL, request["autoencoder"], "autoencoder")
    latent_shape = [int(v) for v in request["latent_shape"]]

    class Denoiser(torch.nn.Module):
        def __init__(self, unet):
            super().__init__()
            self.unet = unet

        def forward(self, sample, timestep):
            return self.unet(sample, timesteps=timestep)

    class Decoder(torch.nn.Module):
        def __init__(self, autoencoder):
            super().__init__()
            self.autoencoder = autoencoder

        def forward(self, latent):
            return self.autoencoder.decode_stage_2_outputs(latent)

    def feeds(batch):
        g = torch.Generator().manual_seed(batch)
        return [torch.randn((batch, *latent_shape), generator=g), torch.full((batch,), 500, dtype=torch.long)]

    denoiser = Denoiser(unet).eval()
    denoiser_path = os.path.join(out, "denoiser.onnx")
    export(denoiser, feeds(2), ["sample", "timestep"], ["noise_pred"], denoiser_path, opset)
    denoiser_error, checker = graph_error(denoiser_path, denoiser, feeds(3), ["sample", "timestep"])
    decoder = Decoder(autoencoder).eval()
    decoder_path = os.path.join(out, "decoder.onnx")
    export(decoder, feeds(2)[:1], ["latent"], ["image"], decoder_path, opset)
    decoder_error, _ = graph_error(decoder_path, decoder, feeds(3)[:1], ["latent"])
    image_shape = list(decoder(feeds(1)[0]).shape[1:])

    # MONAI's own inferer loop from given initial noise.
    scheduler_class = getattr(schedulers, request["scheduler"]["class"])
    # The class's own arguments, and those of its noise schedule (MONAI passes **schedule_args
    # on); another class's (a DDPM's variance_type, for the DDIM reference) left out.
    accepted = set(inspect.signature(scheduler_class).parameters) | {"beta_start", "beta_end", "sig_range", "s"}
    args = {k: v for k, v in request["scheduler"]["args"].items() if k in accepted}
    scheduler = scheduler_class(**args)
    samples, steps = request["samples"], request["steps"]
    scheduler.set_timesteps(num_inference_steps=steps)
    inferer = LatentDiffusionInferer(scheduler, scale_factor=request["scale_factor"])
    noise = torch.randn((samples, *latent_shape), generator=torch.Generator().manual_seed(request.get("seed", 0)))
    np.save(os.path.join(work, "initial_noise.npy"), noise.numpy().astype(np.float32))
    started = time.perf_counter()
    images = inferer.sample(input_noise=noise, autoencoder_model=autoencoder, diffusion_model=unet, scheduler=scheduler, verbose=False)
    seconds = time.perf_counter() - started
    low, high = request["range"]
    path = os.path.join(work, "reference-0.npy")
    np.save(path, images.clamp(low, high).numpy().astype(np.float32))
    answer({"ok": True, "torch": torch.__version__.split("+")[0], "monai": monai.__version__,
            "noise_shape": latent_shape, "image_shape": image_shape, "checker": checker,
            "denoiser_error": denoiser_error, "decoder_error": decoder_error,
            "reference": [{"label": None, "file": path, "seconds": seconds}],
            "reference_pipeline": "LatentDiffusionInferer.sample",
            "reference_scheduler": f"monai.networks.schedulers.{scheduler_class.__name__}",
            "threads": torch.get_num_threads()})


if __name__ == "__main__":
    run(main)
