import math

import torch

from core.fields.encodings import HASH_PRIMES, DenseGridEncoding, FrequencyEncoding, HashGridEncoding, \
    TriplaneEncoding, hash_grid_resolutions, make_encoding


def reference_hash_grid(enc: HashGridEncoding, x: torch.Tensor) -> torch.Tensor:
    """A plain, loop-by-loop implementation of the multiresolution hash encoding, for comparison."""
    out = []
    for p in x.tolist():
        feats = []
        for level, res in enumerate(enc.resolutions.long().tolist()):
            size = int(enc.level_sizes[level])
            offset = int(enc.offsets[level])
            u = [(min(max(c, -1.0), 1.0) + 1) / 2 * res for c in p]
            b = [min(math.floor(c), res - 1) for c in u]
            f = [c - bb for c, bb in zip(u, b)]
            acc = torch.zeros(enc.features, dtype=torch.float64)
            for dx in (0, 1):
                for dy in (0, 1):
                    for dz in (0, 1):
                        v = (b[0] + dx, b[1] + dy, b[2] + dz)
                        w = (f[0] if dx else 1 - f[0]) * (f[1] if dy else 1 - f[1]) * (f[2] if dz else 1 - f[2])
                        if (res + 1) ** 3 <= enc.table_size:
                            idx = v[0] + v[1] * (res + 1) + v[2] * (res + 1) ** 2
                        else:
                            idx = (v[0] * HASH_PRIMES[0]) ^ (v[1] * HASH_PRIMES[1]) ^ (v[2] * HASH_PRIMES[2])
                        acc += w * enc.embeddings[offset + idx % size].double()
            feats.append(acc)
        out.append(torch.cat(feats))
    return torch.stack(out).float()


def test_hash_grid_matches_the_reference_on_dense_and_hashed_levels():
    torch.manual_seed(0)
    enc = HashGridEncoding(n_levels=6, features_per_level=2, log2_hashmap_size=10, base_resolution=4,
                           max_resolution=64, init_scale=1.0)
    assert enc.dense[0] and not enc.dense[-1]  # both kinds of level are exercised
    x = torch.rand(40, 3) * 2 - 1
    x[0] = torch.tensor([1.0, -1.0, 1.0])  # the cube's corners are valid inputs
    assert torch.allclose(enc(x), reference_hash_grid(enc, x), atol=1e-5)


def test_hash_grid_is_continuous_and_differentiable():
    enc = HashGridEncoding(n_levels=4, log2_hashmap_size=12, base_resolution=8, max_resolution=64, init_scale=1.0)
    x = torch.rand(10, 3) * 2 - 1
    assert (enc(x + 1e-6) - enc(x)).abs().max() < 1e-3
    enc(x).sum().backward()
    assert enc.embeddings.grad.abs().sum() > 0


def test_resolutions_are_geometric():
    assert hash_grid_resolutions(16, 16, 2048)[0] == 16
    assert abs(hash_grid_resolutions(16, 16, 2048)[-1] - 2048) <= 1


def test_dense_grid_interpolates_trilinearly():
    enc = DenseGridEncoding(resolutions=(2,), features=1)
    with torch.no_grad():
        # value = x + 2y + 4z at the 8 corners (grid index order is [z, y, x])
        for i in range(2):
            for j in range(2):
                for k in range(2):
                    enc.grids[0][0, 0, k, j, i] = (2 * i - 1) + 2 * (2 * j - 1) + 4 * (2 * k - 1)
    x = torch.rand(20, 3) * 2 - 1
    assert torch.allclose(enc(x)[:, 0], x[:, 0] + 2 * x[:, 1] + 4 * x[:, 2], atol=1e-5)


def test_triplane_sums_its_planes():
    enc = TriplaneEncoding(resolution=2, features=1)
    with torch.no_grad():
        enc.planes.zero_()
        enc.planes[0, 0] = torch.tensor([[-1.0, 1.0], [-1.0, 1.0]])  # XY plane: varies with x (width axis)
    x = torch.rand(10, 3) * 2 - 1
    assert torch.allclose(enc(x)[:, 0], x[:, 0], atol=1e-5)


def test_frequency_encoding_and_factory():
    enc = FrequencyEncoding(4)
    x = torch.zeros(2, 3)
    assert enc(x).shape == (2, enc.out_dim) and enc.out_dim == 27
    assert isinstance(make_encoding("hashgrid", backend="auto", device="cpu", n_levels=2), HashGridEncoding)
    try:
        make_encoding("hashgrid", backend="tcnn", device="cpu")
        raise AssertionError("tcnn on a CPU must be refused")
    except RuntimeError as e:
        assert "CUDA" in str(e)
