"""medigan convert, diffusers source: export a pipeline's UNet (and its VAE decoder) to ONNX and
run the pipeline's own loop from given initial noise, for the Rust side to compare with the
converted package. Runs after folder_export.py (Refusal, answer, export, graph_error, run),
which the Rust side prepends.

Request (one JSON line on stdin):
  {"source", "out", "work", "opset", "samples", "steps", "labels": [int | null, ...],
   "reference_scheduler": null | "DDIMScheduler", "decoder": null | component name,
   "prompts": [str, ...] (a text-conditioned pipeline; else empty), "verify_prompts": [int, ...],
   "guidance_scale", "embeddings": file name}
Answer (the last line of stdout): {"ok": true, ...} or {"ok": false, "kind", "error", "traceback"}.
Runs on CPU, float32. Writes <out>/denoiser.onnx, <out>/decoder.onnx (latent pipelines),
<work>/initial_noise.npy and <work>/reference-<r>.npy (float32 [N, C, H, W], the pipeline's
[0, 1] output mapped back to [-1, 1]).

A text-conditioned pipeline (StableDiffusionPipeline, with prompts): the prompts and the empty
prompt are encoded once by the pipeline's own `encode_prompt` (its tokenizer and text encoder)
into <out>/<embeddings> (float32 [prompts + 1, tokens, width], the empty prompt's last); the
denoiser graph takes them as `encoder_hidden_states` [B, tokens, width]; the reference runs
are the pipeline's `__call__` with `prompt_embeds` / `negative_prompt_embeds` those rows,
`latents` the initial noise and its guidance scale.
"""

from functools import partial


def main():
    request = json.loads(sys.stdin.readline())
    configure_external_data(request)
    import numpy as np
    import torch
    import diffusers
    from diffusers import DiffusionPipeline

    torch.set_grad_enabled(False)
    source, out, work, opset = request["source"], request["out"], request["work"], request["opset"]
    try:
        pipe = DiffusionPipeline.from_pretrained(source, local_files_only=True, torch_dtype=torch.float32)
    except Exception as error:
        raise Refusal("load", f"diffusers cannot load the pipeline: {type(error).__name__}: {error}")
    pipe.to("cpu")
    pipe.set_progress_bar_config(disable=True)
    unet = pipe.unet.eval()
    config = unet.config
    size = config.sample_size
    size = [size, size] if isinstance(size, int) else list(size)
    noise_shape = [int(config.in_channels), *map(int, size)]
    classes = config.get("num_class_embeds")
    if config.get("class_embed_type") not in (None,) and classes is None:
        raise Refusal("conditioning", f"class_embed_type {config.class_embed_type!r} without num_class_embeds: its class input is not an index")

    class Denoiser(torch.nn.Module):
        def __init__(self, unet):
            super().__init__()
            self.unet = unet

        def forward(self, sample, timestep, class_labels=None):
            return self.unet(sample, timestep, class_labels=class_labels).sample

    prompts = request.get("prompts") or []
    embeddings = None
    if prompts:
        embeddings, uncond = encode_prompts(pipe, prompts)
        config = unet.config
        for key in ("class_embed_type", "addition_embed_type", "time_cond_proj_dim", "encoder_hid_dim"):
            if config.get(key) is not None:
                raise Refusal("conditioning", f"the UNet's {key} is {config.get(key)!r}: only text embeddings conditioning is converted")

        class Denoiser(torch.nn.Module):
            def __init__(self, unet):
                super().__init__()
                self.unet = unet

            def forward(self, sample, timestep, encoder_hidden_states):
                return self.unet(sample, timestep, encoder_hidden_states=encoder_hidden_states).sample

    denoiser = Denoiser(unet).eval()
    names = ["sample", "timestep"] + (["class_labels"] if classes else []) + (["encoder_hidden_states"] if prompts else [])

    def feeds(batch):
        g = torch.Generator().manual_seed(batch)
        f = [torch.randn((batch, *noise_shape), generator=g), torch.full((batch,), 500, dtype=torch.long)]
        if classes:
            f.append(torch.arange(batch, dtype=torch.long) % classes)
        if prompts:
            f.append(torch.randn((batch, *embeddings.shape[1:]), generator=g))
        return f

    denoiser_path = os.path.join(out, "denoiser.onnx")
    export(denoiser, feeds(2), names, ["noise_pred"], denoiser_path, opset)
    denoiser_error, checker = graph_error(denoiser_path, denoiser, feeds(3), names)
    result = {"ok": True, "torch": torch.__version__.split("+")[0], "diffusers": diffusers.__version__,
              "pipeline": type(pipe).__name__, "unet": type(unet).__name__, "noise_shape": noise_shape,
              "classes": classes, "checker": checker, "denoiser_error": denoiser_error,
              "out_channels": int(config.out_channels)}
    if prompts:
        table = torch.cat([embeddings, uncond[:1]]).numpy().astype(np.float32)
        path = os.path.join(out, request["embeddings"])
        np.save(path, table)
        import hashlib
        import transformers
        with open(path, "rb") as f:
            result["embeddings_sha256"] = hashlib.sha256(f.read()).hexdigest()
        result["embeddings_shape"] = list(table.shape)
        result["transformers"] = transformers.__version__
        result["tokenizer"] = type(pipe.tokenizer).__name__
    if config.out_channels != config.in_channels:
        raise Refusal("shape", f"the UNet's out_channels ({config.out_channels}) differ from its in_channels ({config.in_channels}): it does not predict the noise of its sample")

    name = request.get("decoder")
    if name:
        vae = getattr(pipe, name).eval()

        class Decoder(torch.nn.Module):
            def __init__(self, vae):
                super().__init__()
                self.vae = vae

            def forward(self, latent):
                return self.vae.decode(latent).sample

        decoder = Decoder(vae).eval()
        decoder_path = os.path.join(out, "decoder.onnx")
        latent = lambda b: [torch.randn((b, *noise_shape), generator=torch.Generator().manual_seed(b))]
        export(decoder, latent(2), ["latent"], ["image"], decoder_path, opset)
        result["decoder_error"], _ = graph_error(decoder_path, decoder, latent(3), ["latent"])
        result["decoder"] = type(vae).__name__
        result["scaling_factor"] = float(vae.config.get("scaling_factor") or 1.0)
        shift = vae.config.get("shift_factor")
        result["shift_factor"] = float(shift) if shift is not None else 0.0
        result["image_shape"] = list(decoder(*latent(1)).shape[1:])
    else:
        result["image_shape"] = noise_shape

    # The pipeline's own loop from given initial noise.
    samples, steps = request["samples"], request["steps"]
    noise = torch.randn((samples, *noise_shape), generator=torch.Generator().manual_seed(request.get("seed", 0)))
    np.save(os.path.join(work, "initial_noise.npy"), noise.numpy().astype(np.float32))
    reference = pipe
    if request.get("reference_scheduler"):
        scheduler_class = getattr(diffusers, request["reference_scheduler"])
        components = dict(pipe.components, scheduler=scheduler_class.from_config(pipe.scheduler.config))
        reference = type(pipe)(**components)
        reference.set_progress_bar_config(disable=True)
    runs = []
    for r, p in enumerate(request.get("verify_prompts") or []):
        n = samples
        started = time.perf_counter()
        images = reference(prompt_embeds=embeddings[p:p + 1].expand(n, -1, -1).clone(),
                           negative_prompt_embeds=uncond[:1].expand(n, -1, -1).clone(),
                           latents=noise.clone(), num_inference_steps=steps,
                           guidance_scale=request["guidance_scale"], output_type="np").images
        seconds = time.perf_counter() - started
        values = (np.asarray(images, dtype=np.float64) * 2 - 1).transpose(0, 3, 1, 2).astype(np.float32)
        path = os.path.join(work, f"reference-{r}.npy")
        np.save(path, values)
        runs.append({"label": None, "prompt": prompts[p], "file": path, "seconds": seconds})
    if prompts:
        request["labels"] = []
    module = sys.modules[type(reference).__module__]
    module.randn_tensor = lambda shape, **_: noise.clone()
    forward = unet.forward
    for r, label in enumerate(request["labels"]):
        unet.forward = forward if label is None else partial(forward, class_labels=torch.full((samples,), label, dtype=torch.long))
        started = time.perf_counter()
        images = reference(batch_size=samples, num_inference_steps=steps, output_type="np").images
        seconds = time.perf_counter() - started
        values = (np.asarray(images, dtype=np.float64) * 2 - 1).transpose(0, 3, 1, 2).astype(np.float32)
        path = os.path.join(work, f"reference-{r}.npy")
        np.save(path, values)
        runs.append({"label": label, "file": path, "seconds": seconds})
    unet.forward = forward
    result["reference"] = runs
    result["reference_pipeline"] = type(reference).__name__
    result["reference_scheduler"] = type(reference.scheduler).__name__
    result["threads"] = torch.get_num_threads()
    answer(result)


def encode_prompts(pipe, prompts):
    """The prompts' and the empty prompt's embeddings, as the pipeline's `encode_prompt` gives
    them (its tokenizer padded to its max length, its text encoder), in chunks."""
    import torch

    if not hasattr(pipe, "encode_prompt") or getattr(pipe, "text_encoder", None) is None:
        raise Refusal("conditioning", f"{type(pipe).__name__} has no text encoder to encode the prompts with")
    conditional, unconditional = [], None
    for start in range(0, len(prompts), 64):
        chunk = prompts[start:start + 64]
        embeds, negative = pipe.encode_prompt(chunk, torch.device("cpu"), 1, True, negative_prompt=None)
        conditional.append(embeds.float())
        if unconditional is None:
            unconditional = negative.float()
    return torch.cat(conditional), unconditional


if __name__ == "__main__":
    run(main)
