#!/usr/bin/env python3
"""The "best alternative" of issue 6, timed with CUDA events on the shapes bench/run.ts gives it.

A bf16 (or fp16) PoPE rotation pre-pass in eager PyTorch (softplus magnitudes, cos/sin of the phases;
features [m*cos, m*sin, tail], head dim 2*rot + (D - rot) padded to a multiple of 8), then
torch.nn.functional.scaled_dot_product_attention on the rotated q and k with v of head dim D (v padded
to the q head dim when the chosen backend wants equal head dims). The key bias is applied as a query
phase (cos(pq - pk - b) = cos((pq - b) - pk)), so grouped-query keys are rotated once per kv head and
SDPA runs with enable_gqa. Decoding (q_len = 1) rotates only the query: a real KV cache holds rotated
keys. Similarity: the pre-pass, then one f32 product q' k'^T (TF32 allowed).

Also measures the ceilings: a bf16 8192^3 matrix product (TFLOP/s) and a 1 GiB device copy (TB/s,
bytes read + written).

Usage: python3 bench/torch-sdpa.py SPEC.json   (prints one JSON object on stdout)
Each workload is tried on its own; a failure is reported in its entry, never fatal.
"""
import json
import math
import sys
import time


def main():
    spec = json.load(open(sys.argv[1]))
    out = {"ok": False, "results": []}
    try:
        import torch
        import torch.nn.functional as F
    except Exception as e:  # no torch: say so, the caller records it
        out["error"] = f"torch unavailable: {e}"
        print(json.dumps(out))
        return
    out["torch"] = torch.__version__
    device = spec.get("device", "cuda")
    if device == "cuda" and not torch.cuda.is_available():
        out["error"] = "torch has no CUDA device"
        print(json.dumps(out))
        return
    if device == "cuda":
        out["gpu"] = torch.cuda.get_device_name(0)
        out["cudaVersion"] = torch.version.cuda
    torch.backends.cuda.matmul.allow_tf32 = True
    deadline = time.time() + float(spec.get("budgetSeconds", 120))
    target_ms = float(spec.get("targetMs", 300))
    max_iters = int(spec.get("maxIters", 200))
    min_iters = int(spec.get("minIters", 10))

    def bench(fn):
        """Median ms of fn(i) over enough runs for target_ms, with CUDA events (wall clock on CPU)."""
        fn(0)
        if device == "cuda":
            torch.cuda.synchronize()

            def timed(n, start_i):
                samples = []
                for j in range(n):
                    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    s.record()
                    fn(start_i + j)
                    e.record()
                    samples.append((s, e))
                torch.cuda.synchronize()
                return sorted(s.elapsed_time(e) for s, e in samples)

            est = timed(3, 1)[1]
            iters = max(min_iters, min(max_iters, math.ceil(target_ms / max(est, 1e-3))))
            timed(2, 4)  # warm-up
            t = timed(iters, 6)
            return t[len(t) // 2], iters
        t = []
        for j in range(3):
            t0 = time.perf_counter()
            fn(j)
            t.append((time.perf_counter() - t0) * 1e3)
        t.sort()
        return t[1], 3

    # Ceilings.
    if spec.get("ceilings", True) and device == "cuda":
        try:
            a = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
            b = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
            ms, _ = bench(lambda i: torch.mm(a, b))
            out["matmulTflops"] = 2 * 8192**3 / ms / 1e9
            del a, b
            x = torch.empty(2**28, device=device, dtype=torch.float32)  # 1 GiB
            y = torch.empty_like(x)
            ms, _ = bench(lambda i: y.copy_(x))
            out["copyTBps"] = 2 * x.numel() * 4 / ms / 1e9
            del x, y
        except Exception as e:
            out["ceilingError"] = f"{type(e).__name__}: {e}"

    def softplus(x):
        return F.softplus(x.float())

    def rotate(x, phase, rot, width, dtype):
        """[B,H,N,D] -> [B,H,N,width]: [m cos p, m sin p, x[rot:], zeros]; phase [.., N, rot] broadcast."""
        m = softplus(x[..., :rot])
        parts = [m * torch.cos(phase), m * torch.sin(phase), x[..., rot:].float()]
        pad = width - (2 * rot + x.shape[-1] - rot)
        if pad:
            parts.append(torch.zeros(*x.shape[:-1], pad, device=x.device))
        return torch.cat(parts, dim=-1).to(dtype)

    for w in spec["workloads"]:
        r = {"id": w["id"]}
        out["results"].append(r)
        if time.time() > deadline:
            r["error"] = "skipped: time budget spent"
            continue
        try:
            B, H, Hkv, Nq, Nk, D, rot = (w[k] for k in ("B", "H", "Hkv", "Nq", "Nk", "D", "rot"))
            dtype = {"bf16": torch.bfloat16, "f16": torch.float16}[w["dtype"]]
            width = 2 * rot + (D - rot)
            width += (-width) % 8
            r["headDim"] = width
            sets = int(w.get("sets", 2))
            g = torch.Generator(device=device).manual_seed(1)
            inv = 10000.0 ** (-torch.arange(rot, device=device, dtype=torch.float64) / rot)
            pos = torch.arange(Nk, device=device, dtype=torch.float64)
            freqs = (pos[:, None] * inv[None, :]).float()  # [Nk, rot]
            bias = -torch.rand(H, rot, generator=g, device=device) * 2 * math.pi  # [H, rot], in [-2pi, 0]
            qphase = freqs[Nk - Nq:][None, None] - bias[None, :, None, :]  # bias moved to the query
            kphase = freqs[None, None]
            mk = lambda *s: (torch.rand(*s, generator=g, device=device) * 2 - 1).to(dtype)
            qs = [mk(B, H, Nq, D) for _ in range(sets)]
            ks = [mk(B, Hkv, Nk, D) for _ in range(sets)]
            vs = [mk(B, Hkv, Nk, D) for _ in range(sets)]
            scale = D ** -0.5
            if w["kind"] == "similarity":
                def prepass(i):
                    return rotate(qs[i % sets], qphase, rot, width, dtype), rotate(ks[i % sets], kphase, rot, width, dtype)
                rq, rk = prepass(0)
                if Hkv != H:
                    rk = rk.repeat_interleave(H // Hkv, dim=1)
                r["prepassMs"], _ = bench(prepass)
                r["mainMs"], r["iters"] = bench(lambda i: torch.matmul(rq.float(), rk.float().transpose(-1, -2)))
                r["backend"] = "matmul f32 (tf32)"
            else:
                decode = Nq == 1
                rks = [rotate(k, kphase, rot, width, dtype) for k in ks]  # the rotated KV cache / pre-pass output
                rqs = [rotate(q, qphase, rot, width, dtype) for q in qs]

                def prepass(i):
                    rq = rotate(qs[i % sets], qphase, rot, width, dtype)
                    return rq if decode else (rq, rotate(ks[i % sets], kphase, rot, width, dtype))

                r["prepassMs"], _ = bench(prepass)
                gqa = {"enable_gqa": True} if Hkv != H else {}
                causal = bool(w["causal"]) and not decode
                vpad = [v for v in vs]
                try:
                    F.scaled_dot_product_attention(rqs[0], rks[0], vs[0], is_causal=causal, scale=scale, **gqa)
                    r["backend"] = "sdpa"
                except Exception:
                    vpad = [F.pad(v, (0, width - D)) for v in vs]
                    r["backend"] = "sdpa (v padded to the q head dim)"
                r["mainMs"], r["iters"] = bench(lambda i: F.scaled_dot_product_attention(rqs[i % sets], rks[i % sets], vpad[i % sets], is_causal=causal, scale=scale, **gqa))
            r["totalMs"] = r["prepassMs"] + r["mainMs"]
            r["ok"] = True
        except Exception as e:
            r["ok"] = False
            r["error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        finally:
            if device == "cuda":
                torch.cuda.empty_cache()
    out["ok"] = True
    print(json.dumps(out))


if __name__ == "__main__":
    main()
