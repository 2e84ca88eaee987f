"""A stand-in for DNABERT-2's flash_attn_triton.py (its Triton flash attention), failing as the
real kernel fails under triton releases since 2.0: their `tl.dot` lost the `trans_b` argument,
so compiling the kernel raises triton's CompilationError (MAGICS-LAB/DNABERT_2 issues #57, #70).
It imports without triton, so the model code takes its kernel branch as it does where triton is
installed. Like upstream, the kernel is an autograd Function's `apply`."""

import torch


class CompilationError(Exception):
    """What `triton.compiler.errors.CompilationError` says for the real kernel."""


class _FlashAttnQKVPackedFunc(torch.autograd.Function):
    @staticmethod
    def forward(ctx, qkv, bias=None):
        raise CompilationError(
            "at 114:24: qk += tl.dot(q, k, trans_b=True)\n"
            "TypeError(\"dot() got an unexpected keyword argument 'trans_b'\")"
        )


flash_attn_qkvpacked_func = _FlashAttnQKVPackedFunc.apply
