"""Measure activation memory of real transformers modules and compare it with llmdoctor's formulas.

Training: what a forward pass saves for backward.  Inference: the transient peak of a no_grad prefill
(torch.profiler memory events; peak minus what is still held at the end: KV cache, last logits).

Needs torch and transformers (CPU is enough).  For each config: a forward pass of a randomly initialised
model under ``torch.autograd.graph.saved_tensors_hooks`` counts the bytes of every distinct tensor
storage saved for backward (parameters excluded); llmdoctor's formula (llmdoctor.memory.plan,
mode=full, gradient checkpointing off, SDPA) less the logits' gradients (not saved, they appear at the
start of backward) predicts the same quantity.  Prints both and the ratio.

    python bench/activation_memory.py [--seq 512] [--batch 2]
"""

from __future__ import annotations

import sys
import warnings

warnings.filterwarnings("ignore")

CONFIGS = {
    "llama-like (GQA, gated MLP)": {"model_type": "llama", "hidden_size": 1024, "intermediate_size": 2816,
                                    "num_hidden_layers": 2, "num_attention_heads": 8, "num_key_value_heads": 2,
                                    "vocab_size": 8192},
    "qwen3-like (q/k norm)": {"model_type": "qwen3", "hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 2,
                              "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 128, "vocab_size": 8192},
    "gpt-neox-like (GeLU MLP)": {"model_type": "gpt_neox", "hidden_size": 1024, "intermediate_size": 4096,
                                 "num_hidden_layers": 2, "num_attention_heads": 8, "vocab_size": 8192,
                                 "hidden_dropout": 0.0, "attention_dropout": 0.0},
}
SEQ, BATCH = 512, 2


def measure(cfg: dict) -> int:
    import torch
    import transformers

    cfg = dict(cfg)
    mt = cfg.pop("model_type")
    torch.manual_seed(0)
    config = transformers.AutoConfig.for_model(mt, **cfg)
    config._attn_implementation = "sdpa"
    model = transformers.AutoModelForCausalLM.from_config(config).to(torch.bfloat16).train()
    params = {p.data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t):
        try:
            st = t.untyped_storage()
            ptr = st.data_ptr()
            if ptr not in params and ptr not in seen:
                seen[ptr] = st.nbytes()
        except Exception:
            pass
        return t

    ids = torch.randint(0, cfg["vocab_size"], (BATCH, SEQ))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(ids, labels=ids)
    del out
    return sum(seen.values())


def measure_inference(cfg: dict) -> int:
    import torch
    import transformers
    from torch.profiler import ProfilerActivity, profile

    cfg = dict(cfg)
    mt = cfg.pop("model_type")
    torch.manual_seed(0)
    config = transformers.AutoConfig.for_model(mt, **cfg)
    config._attn_implementation = "sdpa"
    model = transformers.AutoModelForCausalLM.from_config(config).to(torch.bfloat16).eval()
    ids = torch.randint(0, cfg["vocab_size"], (BATCH, SEQ))
    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        model(ids, use_cache=True, logits_to_keep=1)
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events() if e.name() == "[memory]")
    cur = peak = 0
    for _, n in events:
        cur += n
        peak = max(peak, cur)
    return peak - cur


def predict_inference(cfg: dict) -> float:
    from llmdoctor.memory.architectures import spec_from_config
    from llmdoctor.memory.plan import Options, activation_bytes

    spec = spec_from_config(cfg)
    return activation_bytes(spec, Options(), SEQ, BATCH) - BATCH * spec.vocab * 4  # last logits stay: not transient


def predict(cfg: dict) -> float:
    from llmdoctor.memory.architectures import spec_from_config
    from llmdoctor.memory.plan import Options, activation_bytes

    spec = spec_from_config(cfg)
    total = activation_bytes(spec, Options(mode="full", grad_ckpt=False), SEQ, BATCH)
    # of the loss's bytes per logit element only cross_entropy's fp32 log-softmax (4) is saved for backward; the
    # bf16 logits, the fp32 upcast and the gradients are live (peak) but not saved tensors
    return total - SEQ * BATCH * spec.vocab * (Options().logit_bytes - 4)


def main(argv: list[str] | None = None) -> int:
    import argparse

    global SEQ, BATCH
    parser = argparse.ArgumentParser(description="activation memory: formula vs measured")
    parser.add_argument("--seq", type=int, default=SEQ)
    parser.add_argument("--batch", type=int, default=BATCH)
    args = parser.parse_args(argv)
    SEQ, BATCH = args.seq, args.batch
    try:
        import transformers  # noqa: F401
    except ImportError:
        print("needs transformers: pip install transformers")
        return 2
    import transformers as tf

    print(f"transformers {tf.__version__}; seq {SEQ} x batch {BATCH}, bf16, SDPA, CPU")
    print(f"{'config':<32} {'what':<22} {'measured MiB':>13} {'formula MiB':>12} {'formula/measured':>17}")
    for name, cfg in CONFIGS.items():
        for what, meas, pred in (("training (saved)", measure, predict),
                                 ("inference (transient)", measure_inference, predict_inference)):
            m, p = meas(cfg), pred(cfg)
            print(f"{name:<32} {what:<22} {m / 2**20:>13.1f} {p / 2**20:>12.1f} {p / m:>17.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
