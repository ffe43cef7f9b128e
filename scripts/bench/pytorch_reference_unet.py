#!/usr/bin/env python3
"""The reference UNet of shared/bench/REFERENCE-UNET.md in PyTorch, timed the same way as
`fym-bench bench engine` (batch 8, 6x64x64 in, MSE to a fixed target, Adam 1e-4, 2 threads,
median of 10 steps after 3 warm-up steps; forward alone under torch.no_grad()).

Optional: only for setting the Swift engine's figures beside PyTorch's on the same machine.
    python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install "torch==2.13.0+cpu"
    /tmp/torchenv/bin/python scripts/bench/pytorch_reference_unet.py
Prints one JSON object.
"""
import json, math, statistics, time
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(2)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, tdim=128):
        super().__init__()
        self.n1 = nn.GroupNorm(8, cin); self.c1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.t = nn.Linear(tdim, cout)
        self.n2 = nn.GroupNorm(8, cout); self.c2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, t):
        h = self.c1(F.silu(self.n1(x))) + self.t(t)[:, :, None, None]
        h = self.c2(F.silu(self.n2(h)))
        return h + self.skip(x)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.n = nn.GroupNorm(8, c); self.qkv = nn.Conv2d(c, 3 * c, 1); self.proj = nn.Conv2d(c, c, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.n(x)).reshape(b, 3, c, h * w).unbind(1)
        a = torch.softmax(torch.einsum("bci,bcj->bij", q, k) / math.sqrt(c), dim=-1)
        y = torch.einsum("bcj,bij->bci", v, a).reshape(b, c, h, w)
        return x + self.proj(y)


class UNet(nn.Module):
    def __init__(self, chans=(32, 64, 128)):
        super().__init__()
        self.temb = nn.Sequential(nn.Linear(128, 128), nn.SiLU(), nn.Linear(128, 128))
        self.cin = nn.Conv2d(6, chans[0], 3, padding=1)
        self.down = nn.ModuleList(); skips = [chans[0]]; cur = chans[0]
        for i, c in enumerate(chans):
            for _ in range(2):
                self.down.append(ResBlock(cur, c)); cur = c; skips.append(c)
            if i < len(chans) - 1:
                self.down.append(nn.Conv2d(c, c, 3, stride=2, padding=1)); skips.append(c)
        self.mid1 = ResBlock(cur, cur); self.attn = Attention(cur); self.mid2 = ResBlock(cur, cur)
        self.up = nn.ModuleList()
        for i, c in reversed(list(enumerate(chans))):
            for _ in range(3):
                self.up.append(ResBlock(cur + skips.pop(), c)); cur = c
            if i > 0:
                self.up.append(nn.Upsample(scale_factor=2, mode="nearest")); self.up.append(nn.Conv2d(c, c, 3, padding=1))
        self.nout = nn.GroupNorm(8, chans[0]); self.cout = nn.Conv2d(chans[0], 3, 3, padding=1)

    def forward(self, x, t):
        freqs = torch.exp(-math.log(10000) * torch.arange(64) / 64)
        args = t[:, None] * freqs[None]
        te = self.temb(torch.cat([torch.sin(args), torch.cos(args)], dim=1))
        h = self.cin(x); hs = [h]
        for m in self.down:
            h = m(h, te) if isinstance(m, ResBlock) else m(h); hs.append(h)
        h = self.mid2(self.attn(self.mid1(h, te)), te)
        for m in self.up:
            if isinstance(m, ResBlock):
                h = m(torch.cat([h, hs.pop()], dim=1), te)
            else:
                h = m(h)
        return self.cout(F.silu(self.nout(h)))


def main():
    torch.manual_seed(0)
    net = UNet()
    params = sum(p.numel() for p in net.parameters())
    x = torch.randn(8, 6, 64, 64); target = torch.randn(8, 3, 64, 64)
    t = torch.randint(0, 1000, (8,)).float()
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)

    def forward():
        with torch.no_grad():
            net(x, t)

    def step():
        opt.zero_grad()
        F.mse_loss(net(x, t), target).backward()
        opt.step()

    def timed(fn, runs=10, warmup=3):
        for _ in range(warmup):
            fn()
        out = []
        for _ in range(runs):
            t0 = time.perf_counter(); fn(); out.append((time.perf_counter() - t0) * 1000)
        return statistics.median(out), out

    fwd, fwd_samples = timed(forward)
    trn, trn_samples = timed(step)
    a = torch.randn(1024, 1024); b = torch.randn(1024, 1024)
    mm, _ = timed(lambda: a @ b)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "unet_params": params,
                      "unet_forward_ms": fwd, "unet_train_step_ms": trn, "sgemm_gflops": 2 * 1024 ** 3 / (mm / 1000) / 1e9,
                      "unet_forward_samples_ms": fwd_samples, "unet_train_step_samples_ms": trn_samples}))


if __name__ == "__main__":
    main()
