"""Reading model descriptions (config.json, safetensors headers, the Hugging Face cache): input, not checks."""

from .loader import load_model_spec

__all__ = ["load_model_spec"]
