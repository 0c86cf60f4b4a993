#!/usr/bin/python3
"""tests/gen_interop_fixtures.py - safetensors files written by the real
`safetensors.torch.save_file`, for tests/test_weights.c (so the C tests
need neither PyTorch nor the safetensors package).

Regenerate (Debian's python3 with python3-torch 1.13 and
`pip install --user --break-system-packages safetensors`):

    /usr/bin/python3 tests/gen_interop_fixtures.py

Writes, deterministically (fixed seed), into tests/data/interop/:
- torch_small.safetensors: the state_dict of x[5] -> Linear(5, 4) ->
  BatchNorm1d(4) -> Linear(4, 3), with BN running statistics set to
  non-trivial values and num_batches_tracked (int64) left in, as a
  PyTorch user saves it; the last layer's weight is stored transposed
  (as Keras/TF store a dense kernel, [in, out]) under `net.3.kernel`, so
  the map must transpose it (torch_small_map.yaml).
- torch_small_ref.safetensors: an input batch `x` [6, 5] and the model's
  eval-mode output `logits` [6, 3] (float64 forward, stored as float32).
- dtypes.safetensors: one small tensor per dtype fx converts (F64, F16,
  BF16, I64, I16, I8, U8, BOOL) with values the test states exactly.
"""
import os

import torch
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "interop")


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(13)
    net = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.BatchNorm1d(4, eps=1e-5), torch.nn.ReLU(),
                              torch.nn.Linear(4, 3))
    with torch.no_grad():
        net[1].weight.uniform_(0.5, 1.5)
        net[1].bias.uniform_(-0.5, 0.5)
        net[1].running_mean.uniform_(-0.3, 0.3)
        net[1].running_var.uniform_(0.5, 2.0)
        net[1].num_batches_tracked.fill_(7)
    net.eval()
    state = {k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}
    state["net.3.kernel"] = state.pop("3.weight").t().contiguous()
    state = {("net." + k if not k.startswith("net.") else k): v for k, v in state.items()}
    save_file(state, os.path.join(OUT, "torch_small.safetensors"))

    x = torch.randn(6, 5)
    with torch.no_grad():
        logits = net.double()(x.double()).float()
    save_file({"x": x.contiguous(), "logits": logits.contiguous()}, os.path.join(OUT, "torch_small_ref.safetensors"))

    save_file({
        "f64": torch.tensor([1.5, -2.25, 1e-3], dtype=torch.float64),
        "f16": torch.tensor([1.5, -2.25, 65504.0, 6e-8], dtype=torch.float16),
        "bf16": torch.tensor([1.5, -2.25, 3.0e38], dtype=torch.bfloat16),
        "i64": torch.tensor([[-3, 2147483647], [0, -2147483648]], dtype=torch.int64),
        "i16": torch.tensor([-32768, 32767], dtype=torch.int16),
        "i8": torch.tensor([-128, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(4.0),
    }, os.path.join(OUT, "dtypes.safetensors"))


if __name__ == "__main__":
    main()
