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


def main():
    request = json.loads(sys.stdin.readline())
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
