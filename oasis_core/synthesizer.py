"""The inference API the app and the command line call: numpy in, numpy out.

```python
syn = Synthesizer.load("resources/models/landscapes.safetensors", device="auto", dtype="auto")
noise = syn.sample_noise(256, 256, seed=123)          # a NoiseField: np.asarray(noise) is (z_dim, H, W) float32
img = syn.generate(labels, noise)                      # labels (H, W) label-file values -> (H, W, 3) uint8
noise2 = syn.reroll(noise, mask, seed=7, strength=1.0, feather=24)
seg = syn.segment(photo, flip=True)                    # labels, confidence, fake probability at the photo's size
fake = syn.realism(image)                              # fake probability of a (generated) image
```
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from oasis_core import memory
from oasis_core import noise as noise_ops
from oasis_core.checkpoint import CheckpointError, ModelFile, load_checkpoint
from oasis_core.fast import FastGenerator, NoiseLayout, fast_supported
from oasis_core.fast.generator import Cancelled as GenerationCancelled  # part of this module's API
from oasis_core.labels import LabelSpace
from oasis_core.noise import NoiseField
from oasis_core.runtime import available_memory, resolve_device, resolve_dtype, to_uint8
from oasis_core.segmentation import SegmentResult, maps_at_size, resize_photo


class Synthesizer:
    """A loaded model ready for inference (eval mode, no grad) on one device and dtype."""

    _cache: dict[tuple, Synthesizer] = {}
    _cache_lock = threading.Lock()

    def __init__(
        self,
        model: ModelFile,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype = "auto",
        fast: bool = True,
    ):
        """``fast``: generate through :class:`~oasis_core.fast.FastGenerator` (the eager generator's outputs up to
        float rounding in fp32; label-map plans cached across calls), where the generator allows it;
        ``False``: the eager module (bit for bit what ``Generator`` computes)."""
        self.model = model
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.label_space: LabelSpace = model.label_space
        self.generator = model.build_generator().to(self.device)
        self.discriminator = model.build_discriminator()
        if self.discriminator is not None:
            self.discriminator = self.discriminator.to(self.device)
        self.fast_generator: FastGenerator | None = None
        self.fast_reason = "disabled" if not fast else fast_supported(self.generator)
        if self.fast_reason is None:
            self.fast_generator = FastGenerator(self.generator, self.dtype, self.device)
        self._channels_last = self.device.type == "cpu" and self.dtype != torch.float32
        if self._channels_last and self.fast_generator is None:
            self.generator = self.generator.to(memory_format=torch.channels_last)
            if self.discriminator is not None:
                self.discriminator = self.discriminator.to(memory_format=torch.channels_last)
        self._lock = threading.Lock()  # modules are not re-entrant under autocast; one call at a time
        self._segment_bias = model.segment_bias  # validated when the file was loaded

    @property
    def has_segment_prior(self) -> bool:
        """Whether the model file carries its training split's class frequencies (used by ``segment``)."""
        return self._segment_bias is not None

    def real_class_bias(self, prior: bool = True) -> np.ndarray:
        """The bias ``segment`` adds to the real-class logits (``_real_channels`` order): the model's class prior,
        or zeros when ``prior`` is False or the file has none."""
        keep = np.asarray(self.label_space.real_logit_channels())
        if not prior or self._segment_bias is None:
            return np.zeros(len(keep), np.float32)
        return self._segment_bias[keep - 1]

    # ------------------------------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "auto", dtype: str = "auto", fast: bool = True) -> Synthesizer:
        """Load a model file once; the same file, device, dtype and fast flag again return the cached object."""
        p = Path(path).resolve()
        try:
            st = p.stat()
        except OSError:
            raise CheckpointError(f"{path}: no such model file") from None
        dev = resolve_device(device)
        dt = resolve_dtype(dtype, dev)
        key = (str(p), st.st_mtime_ns, st.st_size, str(dev), str(dt), bool(fast))
        with cls._cache_lock:
            if key in cls._cache:
                return cls._cache[key]
        syn = cls(load_checkpoint(p), dev, dt, fast=fast)
        with cls._cache_lock:
            cls._cache[key] = syn
        return syn

    # ------------------------------------------------------------------------------------------ properties
    @property
    def name(self) -> str:
        return self.model.name

    @property
    def model_hash(self) -> str:
        return self.model.sha256

    @property
    def natural_size(self) -> tuple[int, int]:
        return self.model.natural_size

    @property
    def size_multiple(self) -> int:
        return self.generator.config.downscale

    @property
    def z_dim(self) -> int:
        return self.generator.config.z_dim

    @property
    def has_discriminator(self) -> bool:
        return self.discriminator is not None

    @property
    def metadata(self) -> dict:
        return self.model.document

    def _autocast(self):
        enabled = self.dtype != torch.float32
        return torch.autocast(self.device.type, dtype=self.dtype, enabled=enabled)

    # ------------------------------------------------------------------------------------------ noise
    def sample_noise(self, height: int, width: int, seed: int) -> NoiseField:
        """One seeded vector over (H, W), as the paper samples it, in the compact form (``np.asarray`` of it is the
        ``(z_dim, H, W)`` float32 field)."""
        return NoiseField.sample(self.z_dim, height, width, seed)

    def reroll(
        self,
        noise: NoiseField | np.ndarray,
        mask: np.ndarray,
        seed: int,
        strength: float = 1.0,
        feather: int = 0,
        ramp: str = noise_ops.DEFAULT_RAMP,
    ) -> NoiseField | np.ndarray:
        """New noise inside ``mask`` (H, W) bool, blended with ``strength``; outside it is unchanged. With
        ``feather`` px the strength ramps up from the mask's edge in steps (a soft border,
        :func:`oasis_core.noise.feather_rings`; ``ramp`` its form: ``"smooth"``, or ``"steps"`` as projects from
        before it have).

        The numbers are :func:`oasis_core.noise.reroll`'s, bit for bit. A :class:`NoiseField` is rerolled in its
        compact form (a few vectors more, an id map changed); a dense array gives a dense array."""
        noise_ops.check_ramp(ramp)  # on every path, the hard-edged dense one too
        if isinstance(noise, NoiseField):
            return noise.reroll(mask, seed, strength, feather, ramp)
        m = np.asarray(mask, dtype=bool)
        z = np.ascontiguousarray(noise, dtype=np.float32)
        z = torch.from_numpy(z if z.flags.writeable else z.copy())
        mt = torch.from_numpy(np.array(m, copy=True))
        if feather or mt.dim() != 2 or z.dim() not in (3, 4) or mt.shape != z.shape[-2:]:
            return noise_ops.reroll(z, mt, seed, strength, feather, ramp).numpy()  # its checks and broadcasting rules
        # the same numbers as noise_ops.reroll (same blend, element by element), computed inside the mask only
        new = noise_ops.sample_vector(z.shape[-3], seed).to(z)
        inside = z[..., mt]  # (..., z, M)
        out = z.clone()
        out[..., mt] = noise_ops.blend(inside, new[:, None].expand_as(inside), strength)
        return out.numpy()

    # ------------------------------------------------------------------------------------------ generation
    def check_size(self, height: int, width: int) -> None:
        m = self.size_multiple
        if height % m or width % m or height < m or width < m:
            raise ValueError(
                f"the generator takes sizes that are multiples of {m}; {height}x{width} is not "
                f"(nearest: {max(m, round(height / m) * m)}x{max(m, round(width / m) * m)}); without --no-pad "
                "(pad=False) it is padded and cropped back"
            )

    def padding(self, height: int, width: int) -> tuple[int, int]:
        """Rows and columns ``generate`` adds to a (height, width) map: up to the next multiple of the generator's
        size multiple (at least one multiple)."""
        m = self.size_multiple
        return max(m, -(-height // m) * m) - height, max(m, -(-width // m) * m) - width

    def onehot(self, labels: np.ndarray) -> torch.Tensor:
        """Label-file values (H, W) -> one-hot (1, N, H, W) on the device (validated against the label space)."""
        ch = torch.from_numpy(self.label_space.to_channels(labels))
        oh = F.one_hot(ch, self.label_space.num_channels).permute(2, 0, 1)[None]
        return oh.to(self.device, torch.float32)

    def _noise_tensor(self, noise: np.ndarray | torch.Tensor, height: int, width: int) -> torch.Tensor:
        if not torch.is_tensor(noise):
            noise = np.asarray(noise, dtype=np.float32)
            noise = noise if noise.flags.writeable else noise.copy()  # torch.as_tensor wants writable memory
        z = torch.as_tensor(noise)
        if z.dim() == 3:
            z = z[None]
        if z.dim() != 4 or z.shape[1] != self.z_dim or z.shape[-2:] != (height, width):
            raise ValueError(
                f"noise must be ({self.z_dim}, {height}, {width}) or (B, {self.z_dim}, {height}, {width}) for this "
                f"label map, got {tuple(z.shape)}"
            )
        return z.to(self.device, torch.float32)

    def _noise_fields(self, noise: object, height: int, width: int) -> list[NoiseField] | None:
        """The compact fields of ``noise`` (one field or a list of them), checked against the map; None: dense."""
        fields = [noise] if isinstance(noise, NoiseField) else noise if isinstance(noise, (list, tuple)) else None
        if not fields or not all(isinstance(f, NoiseField) for f in fields):
            return None
        for f in fields:
            if f.shape != (self.z_dim, height, width):
                raise ValueError(f"noise must be ({self.z_dim}, {height}, {width}) for this label map, got {f.shape}")
        return fields

    def _memory_profile(self) -> tuple[memory.Widths, bool, int]:
        """What the memory estimates depend on: the widths, the path (fast or eager), the bytes per value."""
        dtype_bytes = 4 if self.dtype == torch.float32 else 2
        return memory.Widths.of(self.generator.config), self.fast_generator is not None, dtype_bytes

    def bytes_per_pixel(self) -> float:
        """Estimated peak memory of generating, per output pixel and image (``oasis_core.memory``)."""
        return memory.generation_bytes_per_pixel(*self._memory_profile())

    def estimate_bytes(self, height: int, width: int, batch: int = 1) -> int:
        """Estimated peak memory of generating ``batch`` images of ``height`` x ``width`` (padding included). The
        fast path works through a batch a few images at a time (within its workspace budget); the eager path holds
        the whole batch."""
        ph, pw = self.padding(height, width)
        h, w = height + ph, width + pw
        fast = self.fast_generator
        at_once = None if fast is None else fast.workspace_bytes // max(1, fast.image_bytes(h, w))
        widths, is_fast, dtype_bytes = self._memory_profile()
        return memory.generation_bytes(widths, h, w, batch, is_fast, dtype_bytes, at_once=at_once)

    def check_memory(self, height: int, width: int, batch: int = 1) -> None:
        """Refuse (:class:`oasis_core.memory.MemoryEstimateError`, one sentence) a generation that cannot fit in the
        memory the device has available, before anything is allocated."""
        need = self.estimate_bytes(height, width, batch)
        if need <= memory.ALWAYS_FITS:
            return
        have, where = available_memory(self.device)
        images = "a" if batch == 1 else f"{batch}"
        memory.require(
            need,
            f"Generating {images} {width}x{height} image{'s' if batch > 1 else ''}",
            have,
            "choose a smaller size" + (" or fewer images" if batch > 1 else ""),
            where,
        )

    def _fast(
        self, labels: np.ndarray, noise: torch.Tensor | NoiseLayout, cancel: Callable[[], bool] | None = None
    ) -> torch.Tensor:
        """The fast path: label channels plus a digest of the raw labels (the plan cache key)."""
        channels = torch.from_numpy(self.label_space.to_channels(labels))
        key = hashlib.blake2b(np.ascontiguousarray(labels).view(np.uint8).reshape(-1), digest_size=16)
        key.update(repr((labels.shape, labels.dtype.str)).encode())
        return self.fast_generator(channels, noise, label_key=key.digest(), cancel=cancel)

    @torch.inference_mode()
    def generate_tensor(
        self,
        labels: np.ndarray,
        noise: NoiseField | list[NoiseField] | np.ndarray | torch.Tensor,
        pad: bool = True,
        cancel: Callable[[], bool] | None = None,
    ) -> torch.Tensor:
        """(B, 3, H, W) float32 output in [-1, 1] before quantisation.

        ``noise``: a :class:`NoiseField` (or a list of them, a batch) or a dense (z, H, W) / (B, z, H, W) field.
        A map whose sides are not multiples of :attr:`size_multiple` is padded (border labels and noise
        replicated) and the output cropped back; ``pad=False`` refuses it instead. ``cancel``: asked between the
        generator's blocks and within large ones (fast path); True stops the call with :class:`GenerationCancelled`."""
        labels = np.asarray(labels)
        if labels.ndim != 2:
            raise ValueError(f"a label map must be 2-D (H, W), got shape {labels.shape}")
        h, w = labels.shape
        shape = tuple(getattr(noise, "shape", ()))  # NoiseField: (z, H, W); dense: (z, H, W) or (B, z, H, W)
        batch = len(noise) if isinstance(noise, (list, tuple)) else (int(shape[0]) if len(shape) == 4 else 1)
        self.check_memory(h, w, batch)
        fields = self._noise_fields(noise, h, w)
        z = self._noise_tensor(noise, h, w) if fields is None else None
        ph, pw = self.padding(h, w)
        if ph or pw:
            if not pad:
                self.check_size(h, w)
            labels = np.pad(labels, ((0, ph), (0, pw)), mode="edge")
            if fields is not None:
                fields = [f.pad(ph, pw) for f in fields]
            else:
                z = F.pad(z, (0, pw, 0, ph), mode="replicate")
        if fields is not None:
            if self.fast_generator is not None:
                out = self._fast(labels, NoiseLayout.of_fields(fields), cancel)
                return out[..., :h, :w] if (ph or pw) else out
            z = torch.stack([f.dense() for f in fields]).to(self.device)
        if self.fast_generator is not None:
            out = self._fast(labels, z, cancel)
        else:
            oh = self.onehot(labels).expand(z.shape[0], -1, -1, -1)
            grain = None  # derived by the generator from z, unless the compact fields give it cheaper
            k = self.generator.config.grain_channels
            if fields is not None and k:
                grain = torch.stack([noise_ops.grain_of_field(f, k).reshape(k, f.height, f.width) for f in fields])
                grain = grain.to(self.device)
            if self._channels_last:
                oh = oh.contiguous(memory_format=torch.channels_last)
                z = z.contiguous(memory_format=torch.channels_last)
            with self._lock, self._autocast():
                out = self.generator(oh, z, grain).float()
        return out[..., :h, :w] if (ph or pw) else out

    def generate(
        self,
        labels: np.ndarray,
        noise: NoiseField | np.ndarray | torch.Tensor,
        pad: bool = True,
        cancel: Callable[[], bool] | None = None,
    ) -> np.ndarray:
        """(H, W, 3) uint8 for one noise field; (B, H, W, 3) for a batch (B, z, H, W) or a list of fields.
        Any size: see :meth:`generate_tensor` for ``pad``."""
        out = self.generate_tensor(labels, noise, pad=pad, cancel=cancel)
        if cancel is not None and cancel():  # asked once more: converting a large frame takes a tenth of a second
            raise GenerationCancelled("the generation was cancelled")
        out = to_uint8(out)
        # a list of fields is a batch; np.ndim of it would build every dense field just to count axes
        single = isinstance(noise, NoiseField) or (not isinstance(noise, (list, tuple)) and np.ndim(noise) == 3)
        return out[0] if single else out

    @torch.inference_mode()
    def generate_variants(
        self,
        labels: np.ndarray,
        seeds: list[int] | None = None,
        noises: list[NoiseField] | list[np.ndarray] | np.ndarray | torch.Tensor | None = None,
        pad: bool = True,
    ) -> np.ndarray:
        """(B, H, W, 3) uint8: variants of one label map in one batched pass.

        Either ``seeds`` (each one vector over the map, as :meth:`sample_noise` draws it) or ``noises`` (B
        :class:`NoiseField` s, B dense fields (z, H, W), or one (B, z, H, W) array).
        """
        if (seeds is None) == (noises is None):
            raise ValueError("give either seeds or noises")
        labels = np.asarray(labels)
        if labels.ndim != 2:
            raise ValueError(f"a label map must be 2-D (H, W), got shape {labels.shape}")
        h, w = labels.shape
        if seeds is not None:
            if len(seeds) == 0:
                raise ValueError("no seeds given")
            noises = [NoiseField.sample(self.z_dim, h, w, s) for s in seeds]
        if isinstance(noises, (list, tuple)) and noises and all(isinstance(n, NoiseField) for n in noises):
            return to_uint8(self.generate_tensor(labels, list(noises), pad=pad))
        if torch.is_tensor(noises) or isinstance(noises, np.ndarray):
            z = noises
        else:
            z = np.stack([np.asarray(n, dtype=np.float32) for n in noises])
        if np.ndim(z) != 4:
            raise ValueError(f"noises must be (B, {self.z_dim}, {h}, {w}), got shape {tuple(np.shape(z))}")
        return to_uint8(self.generate_tensor(labels, z, pad=pad))

    # ------------------------------------------------------------------------------------------ discriminator
    def _require_d(self) -> torch.nn.Module:
        if self.discriminator is None:
            raise ValueError(f"the model {self.name!r} has no discriminator, so it cannot segment or score realism")
        return self.discriminator

    @torch.inference_mode()
    def discriminate(self, image: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Raw logits (B, N+1, H, W) for images (3, H, W) / (B, 3, H, W) float in [-1, 1], no resizing."""
        d = self._require_d()
        x = torch.as_tensor(image, dtype=torch.float32)
        if x.dim() == 3:
            x = x[None]
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"the discriminator takes (3, H, W) images, got {tuple(x.shape)}")
        m = d.config.downscale
        if x.shape[-2] % m or x.shape[-1] % m:
            raise ValueError(f"the discriminator takes sizes that are multiples of {m}, got {tuple(x.shape[-2:])}")
        x = x.to(self.device)
        if self._channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with self._lock, self._autocast():
            return d(x).float()

    def _real_channels(self) -> torch.Tensor:
        """Logit channels of the real classes that have a file value (don't care and unused channels excluded)."""
        return torch.tensor(self.label_space.real_logit_channels(), device=self.device)

    def _check_photo(self, photo: np.ndarray) -> np.ndarray:
        photo = np.asarray(photo)
        if photo.ndim != 3 or photo.shape[2] not in (3, 4) or photo.dtype != np.uint8 or 0 in photo.shape[:2]:
            raise ValueError(f"a photo must be (H, W, 3) uint8, got {photo.shape} {photo.dtype}")
        return photo[..., :3]

    def model_input_size(self, height: int, width: int) -> tuple[int, int]:
        """The size a (height, width) photo is resized to for the discriminator: it fits inside the model's natural
        size with its aspect kept (then it is padded to the discriminator's multiple, never cropped)."""
        nh, nw = self.natural_size
        scale = min(nh / height, nw / width)
        return max(1, round(height * scale)), max(1, round(width * scale))

    @torch.inference_mode()
    def segment(
        self,
        photo: np.ndarray,
        flip: bool = False,
        progress: Callable[[int, int], None] | None = None,
        prior: bool = True,
    ) -> SegmentResult:
        """Segment a photo (H, W, 3) uint8 into the model's classes at the photo's own resolution.

        The photo is resized (aspect kept) to fit the model's natural size and padded by reflection to the
        discriminator's multiple; the logits of the photo part are resized back to (H, W) bilinearly, computing
        only what differs from a lookup (see ``maps_at_size``), so a 6000x4000 photo takes seconds and needs memory
        for its maps, not for N+1 full-size logit planes. ``flip`` averages the logits
        of the photo and its mirror image (test-time augmentation). ``prior`` adds the model's training class prior
        to the real-class logits (``real_class_bias``; no effect for files without one); the fake probability is
        always the raw discriminator's. ``progress(done, total)`` is called after each step; it may raise to abandon
        the work.
        """
        photo = self._check_photo(photo)
        h, w = photo.shape[:2]
        rh, rw = self.model_input_size(h, w)
        total = 4 + int(flip)
        done = 0

        def step() -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(done, total)

        small = resize_photo(photo, rh, rw)
        step()
        # torch.tensor copies: photos decoded by PIL are read-only arrays, which torch.from_numpy warns about
        x = torch.tensor(small).permute(2, 0, 1)[None].float() / 127.5 - 1
        m = self._require_d().config.downscale
        ph, pw = -rh % m, -rw % m
        if ph or pw:
            mode = "reflect" if ph < rh and pw < rw else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        logits = self.discriminate(x)
        step()
        if flip:
            logits = 0.5 * (logits + self.discriminate(x.flip(-1)).flip(-1))
            step()
        logits = logits[0, :, :rh, :rw].float().cpu().numpy()
        keep = self._real_channels().cpu().numpy()
        values = self.label_space.to_values(keep - 1)
        values = values.astype(np.uint8 if values.max() < 256 else np.uint16 if values.max() < 65536 else np.int64)
        return maps_at_size(logits, keep, values, h, w, step, self.real_class_bias(prior))

    def realism(self, image: np.ndarray, flip: bool = False) -> np.ndarray:
        """The discriminator's fake probability (H, W) float32 in [0, 1] for an image (H, W, 3) uint8, e.g. a
        generated one: high where it looks generated. Same resizing as ``segment``."""
        return self.segment(image, flip=flip).fake
