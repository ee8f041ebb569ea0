"""Write a tiny llama-architecture GGUF model with random weights and a real tokenizer.

No model can be downloaded here, so `make real-engine` builds one: the tokenizer metadata is
copied from one of llama.cpp's vocab-only files (`vendor/llama.cpp/models/ggml-vocab-*.gguf` in the
llama-cpp-python sdist), the weights are random (2 layers, dim 64). It answers gibberish, which is
enough to check the API surface of a real llama.cpp server (logprobs, grammars, tool calls).

Run with a Python that has `gguf` and `numpy` (the engine's venv, not the project's):
    python bench/real_engine_model.py VOCAB.gguf OUT.gguf
"""

import sys

import gguf
import numpy as np

DIM, LAYERS, HEADS, FFN, CONTEXT = 64, 2, 4, 128, 2048
# A ChatML template, so the server renders chat messages (and tools) the usual way.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def copy_tokenizer(reader: gguf.GGUFReader, writer: gguf.GGUFWriter) -> int:
    """Copy every `tokenizer.*` field; return the vocabulary size."""
    n_vocab = 0
    for name, field in reader.fields.items():
        if not name.startswith("tokenizer."):
            continue
        kind = field.types[0]
        if kind == gguf.GGUFValueType.ARRAY:
            values = [field.contents(i) for i in range(len(field.data))]
            writer.add_array(name, values)
            n_vocab = max(n_vocab, len(values)) if name == "tokenizer.ggml.tokens" else n_vocab
        else:
            writer.add_key_value(name, field.contents(), kind)
    return n_vocab


def main(vocab_path: str, out_path: str) -> None:
    rng = np.random.default_rng(7)
    reader = gguf.GGUFReader(vocab_path)
    writer = gguf.GGUFWriter(out_path, "llama")
    writer.add_name("cortex-tiny-random")
    n_vocab = copy_tokenizer(reader, writer)
    writer.add_chat_template(CHAT_TEMPLATE)
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(DIM)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(HEADS)
    writer.add_rope_dimension_count(DIM // HEADS)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(n_vocab)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)

    def weight(*shape: int) -> np.ndarray:
        return rng.normal(0.0, 0.5, shape).astype(np.float32)

    ones = np.ones(DIM, dtype=np.float32)
    writer.add_tensor("token_embd.weight", weight(n_vocab, DIM))
    for layer in range(LAYERS):
        block = f"blk.{layer}"
        writer.add_tensor(f"{block}.attn_norm.weight", ones)
        for part in ("attn_q", "attn_k", "attn_v", "attn_output"):
            writer.add_tensor(f"{block}.{part}.weight", weight(DIM, DIM))
        writer.add_tensor(f"{block}.ffn_norm.weight", ones)
        writer.add_tensor(f"{block}.ffn_gate.weight", weight(FFN, DIM))
        writer.add_tensor(f"{block}.ffn_up.weight", weight(FFN, DIM))
        writer.add_tensor(f"{block}.ffn_down.weight", weight(DIM, FFN))
    writer.add_tensor("output_norm.weight", ones)
    writer.add_tensor("output.weight", weight(n_vocab, DIM))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
