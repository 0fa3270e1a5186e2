"""The memory planner's formulas as text, one per term: shown by ``llmdoctor explain memory.fit`` and
``llmdoctor fit --explain``.  A module of its own so that the check's explanation needs no planner imported.
"""

FORMULAS = {
    "weights": "params x bytes/param. Quantized (int8/nf4/int4) only the decoder layers' Linear weights; "
               "embeddings, lm_head and norms stay 16-bit (bitsandbytes, GPTQ and AWQ keep them). "
               "nf4 (bitsandbytes, QLoRA): 4 bits + absmax per 64-block; double quantization stores it as 8 bits "
               "+ one fp32 per 256 blocks: 0.5 + 1/64 + 4/(64*256) bytes/param (0.5 + 4/64 without double quant) "
               "[Dettmers et al. 2023, QLoRA, sec. 3 'Double Quantization']. GPTQ/AWQ int4, group size g=128: "
               "4 bits + fp16 scale and 4-bit zero per group: 0.5 + 2/g + 0.5/g bytes/param. int8 (LLM.int8): 1 "
               "byte/param. fp8: 1 byte/param.",
    "kv_cache": "2 x layers x kv_heads x head_dim x tokens x batch x bytes(kv dtype); tokens = seq-len, or the "
                "sliding window on sliding-window layers; GQA/MQA use num_key_value_heads; MLA (DeepSeek-V2/V3) "
                "caches the compressed latent: layers x (kv_lora_rank + qk_rope_head_dim) x tokens x batch x bytes "
                "[vLLM/SGLang MLA cache; DeepSeek-V2 paper sec. 2.1], replicated on every tensor-parallel GPU; "
                "with TP, KV heads split over the GPUs, at least one head per GPU (fewer heads than GPUs: replicated).",
    "activations": "Inference (prefill of seq x batch, no_grad, SDPA/flash attention, no s^2 buffer): the widest "
                   "live set of one layer, b*s*(5h + 3i)*bytes for RMSNorm/SiLU-gated families (residual, the fp32 "
                   "norm copy, gate/up/product; + q with per-head q/k norms), b*s*(8h + 2i)*bytes for LayerNorm/GeLU "
                   "ones (measured with "
                   "torch.profiler memory events, bench/activation_memory.py); MoE: experts run one after another, "
                   "so i = 2/E of the routed width (k experts x moe_intermediate, x2 for imbalance) plus the shared "
                   "experts; plus last-position logits b*V*4; "
                   "eager attention adds b*heads*s^2*bytes. Training (saved for backward, per layer, bytes per token at "
                   "16-bit): 16h + 4q + 4kv + 8i for RMSNorm/SiLU-gated families (+6q + 6kv with per-head q/k norms: "
                   "Qwen3, Gemma 3, OLMo 2), 8h + 4q + 4kv + 4i for LayerNorm/GeLU families (GPT-2, GPT-NeoX, Falcon); "
                   "x2 for fp32; q = heads*head_dim, kv = kv_heads*head_dim, i = the MLP width a token passes "
                   "through. Structure after Korthikanti et al. 2022 'Reducing Activation Recomputation in Large "
                   "Transformer Models' (sec. 4.1, eq. 1: sbh(34 + 5as/h)); coefficients measured on transformers' "
                   "modules with torch.autograd.graph.saved_tensors_hooks (bench/activation_memory.py, bf16, SDPA, "
                   "within 1%). Eager attention adds 2*heads*s^2*b*bytes. Gradient checkpointing keeps only each "
                   "layer's input (s*b*h*bytes) plus the larger of one layer recomputed and the loss (the loss's "
                   "backward runs and frees its buffers before the first recompute). Outside the layers: 8h per token, and the loss over the "
                   "vocabulary at its peak (start of backward), b*s*V*20 bytes with transformers' ForCausalLMLoss "
                   "(bf16 logits 2 + fp32 upcast 4 + log-softmax kept for backward 4 + its fp32 gradient 4 + the "
                   "gradient through the upcast 4 + bf16 logits gradient 2; 16 from transformers 4.46, whose "
                   "ForCausalLMLoss shifts the labels, not the logits: --transformers-version), b*s*V*4 with "
                   "Unsloth's fused chunked cross-entropy (--stack unsloth; its gradient checkpointing also offloads layer inputs to CPU). "
                   "Tensor parallel: activations are whole on every GPU (the residual stream and the logits are not "
                   "split). ZeRO-1/2/3 (--zero) shard optimizer states / + gradients / + weights over the GPUs; "
                   "--offload-optimizer keeps optimizer states in CPU RAM.",
    "gradients": "full: one gradient per parameter in the training dtype; LoRA/QLoRA: fp32 gradients of the "
                 "adapters only (r x (in + out) per targeted Linear: q,k,v,o,gate,up,down).",
    "optimizer": "Adam with mixed precision: fp32 master weights + m + v = 12 bytes/param (ZeRO paper, Rajbhandari "
                 "et al. 2020, sec. 3.1: 2+2+12 = 16 bytes/param); fp32 training: m + v = 8; 8-bit Adam: 2 bytes "
                 "(+4 master) [Dettmers et al. 2022, 8-bit Optimizers via Block-wise Quantization]; SGD with "
                 "momentum: 4 (+4 master). LoRA adapters: fp32 weights 4 + Adam 8 bytes/param.",
    "overhead": "per GPU: the CUDA context (estimate, default 512 MiB; it varies with GPU, driver and lazy module "
                "loading — measure with torch.cuda.mem_get_info before and after init) plus an allocator reserve "
                "for fragmentation (default 5% of what the job allocates; heuristic).",
    "others": "memory other processes hold on the GPU now (NVML memory used, with --gpus auto or a snapshot).",
}
