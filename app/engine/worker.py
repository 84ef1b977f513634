"""The engine: one worker thread that runs every model job for the GUI.

One worker thread runs every model job (load, generate, variants, convert, photo segmentation, clean-up, realism)
in order. Every request belongs to a channel ("main" and "variants" for generations, "load", "convert", and one per
task kind) and carries an increasing stamp; the newest request of a channel is its current one. A newer request
replaces an older one of its channel that has not started, and only the current request's result (or failure)
is delivered: stale results are the engine's business, so painting never waits on the model and the GUI never
sees an old image. Results cross back to the GUI thread through queued signals.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import torch
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from app.doc.model_info import ModelInfo
from app.doc.recipe import NoiseRecipe
from app.engine.models import describe
from app.engine.results import GenerationResult, PhotoImport, WorstRegions
from oasis_core import segmentation
from oasis_core.checkpoint import CheckpointError, convert_official, official_datasets_of
from oasis_core.imageio import read_rgb
from oasis_core.noise import NoiseField
from oasis_core.segmentation import resize_photo
from oasis_core.synthesizer import GenerationCancelled, Synthesizer

#: jobs whose results come back through ``Engine.task_done`` / ``task_failed``
TASKS = ("segment", "cleanup", "realism", "worst")
#: jobs a newer request of the same kind and channel makes pointless while they wait
REPLACEABLE = ("generate", "cleanup", "realism")


# --------------------------------------------------------------------- jobs and results
@dataclass
class _Job:
    kind: str  # "load" | "generate" | "inspect" | "convert" | one of TASKS
    stamp: int
    channel: str = ""
    payload: dict = field(default_factory=dict)


class NoiseFields:
    """The noise fields of recent recipes, by recipe prefix: a frame of a scene with rerolled regions reuses the
    field it had (every stroke regenerates the frame), a new reroll starts from the field before it, and an undone
    reroll finds its shorter recipe's field. Fields are the library's compact, immutable ``NoiseField`` s (a few
    vectors and an id map: about 8 bytes a pixel). At most ``budget_bytes`` and ``max_fields`` are kept; the newest
    field always stays."""

    def __init__(self, budget_bytes: int = 64 << 20, max_fields: int = 16) -> None:
        self.budget_bytes = budget_bytes
        self.max_fields = max_fields
        self._fields: OrderedDict[tuple, NoiseField] = OrderedDict()
        self.rerolls = 0  # reroll computations done (the rest came from the cache)

    def field(self, syn: Synthesizer, recipe: NoiseRecipe) -> NoiseField:
        base = (syn.z_dim, recipe.height, recipe.width, recipe.style_seed)  # the noise depends on nothing else
        regions = [r.key for r in recipe.regions]
        start, z = 0, None
        for i in range(len(regions), -1, -1):  # the longest prefix of the recipe already computed
            z = self._fields.get((*base, tuple(regions[:i])))
            if z is not None:
                start = i
                self._fields.move_to_end((*base, tuple(regions[:i])))
                break
        if z is None:
            z = self._put((*base, ()), syn.sample_noise(recipe.height, recipe.width, recipe.style_seed))
        for i in range(start, len(regions)):
            r = recipe.regions[i]
            mask = np.array(r.mask, copy=True)  # torch wants writable arrays
            z = syn.reroll(z, mask, r.seed, r.strength, r.feather, r.ramp)
            self.rerolls += 1
            if i == len(regions) - 1 or i == len(regions) - 2:  # the field and the one before it (undo, new reroll)
                self._put((*base, tuple(regions[: i + 1])), z)
        return z

    def _put(self, key: tuple, z: NoiseField) -> NoiseField:
        self._fields[key] = z
        self._fields.move_to_end(key)
        total = sum(f.nbytes for f in self._fields.values())
        while (total > self.budget_bytes or len(self._fields) > self.max_fields) and len(self._fields) > 1:
            _, old = self._fields.popitem(last=False)
            total -= old.nbytes
        return z

    def __len__(self) -> int:
        return len(self._fields)

    def clear(self) -> None:
        self._fields.clear()


class _Worker(QThread):
    """Runs jobs one at a time; emits plain Python objects back to the engine."""

    done = Signal(object, object)  # job, result
    failed = Signal(object, str)  # job, message
    progress = Signal(object, int, int)  # job, done, total

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self._cond = threading.Condition()
        self._jobs: list[_Job] = []
        self._stop = False
        self.cancel_before = 0  # jobs with a stamp <= this are abandoned (checked between variants)
        self.noise_fields = NoiseFields()

    def submit(self, job: _Job) -> None:
        with self._cond:
            if job.kind in REPLACEABLE:
                # a newer request of the same kind and channel makes an older pending one pointless
                self._jobs = [j for j in self._jobs if not (j.kind == job.kind and j.channel == job.channel)]
            self._jobs.append(job)
            self._cond.notify()

    def drop_pending(self, kinds: tuple[str, ...] = ("generate",)) -> list[_Job]:
        with self._cond:
            dropped = [j for j in self._jobs if j.kind in kinds]
            self._jobs = [j for j in self._jobs if j.kind not in kinds]
            return dropped

    def pending(self) -> int:
        with self._cond:
            return len(self._jobs)

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._jobs.clear()
            self._cond.notify()

    def run(self) -> None:  # noqa: D401 - QThread API
        while True:
            with self._cond:
                while not self._jobs and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                job = self._jobs.pop(0)
                self.engine._set_running(job)  # under the lock: never neither pending nor running
            ok, outcome = self._execute(job)
            # not running any more *before* the result is sent, so the GUI's busy check after it sees the truth
            self.engine._set_running(None)
            if ok:
                self.done.emit(job, outcome)
            else:
                self.failed.emit(job, outcome)

    def _execute(self, job: _Job) -> tuple[bool, object]:
        """(True, result) or (False, message)."""
        try:
            return True, getattr(self, f"_run_{job.kind}")(job)
        except _Cancelled:
            return False, "cancelled"
        except CheckpointError as exc:
            return False, str(exc)
        except MemoryError:
            return False, "Out of memory: try a smaller canvas, fewer variants or the CPU device."
        except torch.cuda.OutOfMemoryError:
            return False, "The GPU ran out of memory: try a smaller canvas, fewer variants or the CPU."
        except (ValueError, OSError) as exc:
            return False, str(exc)
        except Exception as exc:  # a bug: say so rather than kill the thread
            traceback.print_exc()
            return False, f"Unexpected error ({type(exc).__name__}: {exc})."

    # ----------------------------------------------------------------- job bodies
    def _run_load(self, job: _Job) -> tuple[Synthesizer, ModelInfo, float]:
        t0 = time.perf_counter()
        p = job.payload
        syn = Synthesizer.load(p["path"], device=p["device"], dtype=p["dtype"])
        self.noise_fields.clear()  # the fields of the previous model are not needed any more
        return syn, describe(syn, p["path"]), (time.perf_counter() - t0) * 1000

    def _run_inspect(self, job: _Job) -> tuple[str, list[str]]:
        path = job.payload["path"]
        return path, official_datasets_of(path)

    def _run_convert(self, job: _Job) -> str:
        p = job.payload
        out = convert_official(p["generator"], p.get("discriminator"), p["dataset"], p["out"])
        return str(out)

    def _synthesizer_with_d(self) -> Synthesizer:
        syn = self.engine.synthesizer
        if syn is None:
            raise ValueError("No model is loaded: open a model first.")
        if not syn.has_discriminator:
            raise ValueError(
                f"The model {syn.name} has no discriminator, so it cannot segment photos or score realism: open a "
                "model file that includes one."
            )
        return syn

    def _check_cancel(self, job: _Job) -> None:
        if job.stamp <= self.cancel_before:
            raise _Cancelled

    def _run_segment(self, job: _Job) -> PhotoImport:
        syn = self._synthesizer_with_d()
        p = job.payload
        info: ModelInfo = p["info"]
        t0 = time.perf_counter()
        flip = bool(p.get("flip", True))
        steps = 2 + 4 + int(flip)  # read, resize, then the segmentation's own steps

        def progress(done: int, total: int) -> None:
            self._check_cancel(job)
            self.progress.emit(job, 2 + done, 2 + total)

        self.progress.emit(job, 0, steps)
        if "image" in p:  # a photo already at its canvas size (a scene's reference layer, for another model)
            small, (h, w) = p["image"], p["source_size"]
        else:
            photo = read_rgb(p["path"])  # refuses unreadable files and decompression bombs with one sentence
            self._check_cancel(job)
            self.progress.emit(job, 1, steps)
            h, w = photo.shape[:2]
            ch, cw = info.photo_canvas_size(h, w, p.get("scale", 1.0))
            small = resize_photo(photo, ch, cw)
            del photo
        self._check_cancel(job)
        self.progress.emit(job, 2, steps)
        seg = syn.segment(small, flip=flip, progress=progress)
        return PhotoImport(
            path=str(p["path"]),
            photo=np.ascontiguousarray(small),
            labels=seg.labels.astype(info.label_dtype),
            confidence=seg.confidence,
            source_size=(h, w),
            ms=(time.perf_counter() - t0) * 1000,
        )

    def _run_cleanup(self, job: _Job) -> np.ndarray:
        p = job.payload
        labels = p["labels"]
        out = segmentation.cleanup_labels(labels, p["confidence"], p["min_region"], p["min_confidence"])
        return out.astype(labels.dtype)

    def _run_realism(self, job: _Job) -> np.ndarray:
        return self._synthesizer_with_d().realism(job.payload["image"])

    def _run_worst(self, job: _Job) -> WorstRegions:
        p = job.payload
        fake = self._synthesizer_with_d().realism(p["image"])
        self._check_cancel(job)
        masks = segmentation.worst_regions(fake, p["labels"], p["k"], p["min_area"])
        return WorstRegions(fake, masks, p.get("tag"))

    def _noise(self, syn: Synthesizer, recipe: NoiseRecipe) -> NoiseField:
        return self.noise_fields.field(syn, recipe)

    def _run_generate(self, job: _Job) -> GenerationResult:
        syn = self.engine.synthesizer
        if syn is None:
            raise ValueError("No model is loaded: open a model first.")
        p = job.payload
        labels: np.ndarray = p["labels"]
        recipes: list[NoiseRecipe] = p["recipes"]
        t0 = time.perf_counter()
        images = []
        for i, recipe in enumerate(recipes):
            if job.stamp <= self.cancel_before:
                raise _Cancelled
            # any size: the Synthesizer pads the map and its noise to the generator's multiple and crops back
            try:
                image = syn.generate(labels, self._noise(syn, recipe), cancel=lambda: job.stamp <= self.cancel_before)
            except GenerationCancelled:
                raise _Cancelled from None
            images.append(np.ascontiguousarray(image))
            if len(recipes) > 1:
                self.progress.emit(job, i + 1, len(recipes))
        ms = (time.perf_counter() - t0) * 1000 / max(1, len(recipes))
        return GenerationResult(
            stamp=job.stamp,
            channel=job.channel,
            labels=labels,
            recipes=recipes,
            images=images,
            ms=ms,
            device=str(syn.device),
            dtype=str(syn.dtype).replace("torch.", ""),
            model_hash=syn.model_hash,
            tag=p.get("tag"),
        )


class _Cancelled(Exception):
    pass


class Engine(QObject):
    """The GUI's handle on the model. Signals arrive in the GUI thread."""

    model_loaded = Signal(object, float)  # ModelInfo, load ms
    model_failed = Signal(str, str)  # path, message
    generated = Signal(object)  # GenerationResult
    generate_failed = Signal(int, str)  # stamp, message
    inspected = Signal(str, list)  # an official checkpoint's path and the datasets its layout matches
    converted = Signal(str)  # path of the new model file
    convert_failed = Signal(str)
    progress = Signal(str, int, int)  # channel, done, total (of the channel's current request)
    busy_changed = Signal(bool)
    task_done = Signal(str, int, object)  # kind (one of TASKS), stamp, result
    task_failed = Signal(str, int, str)  # kind, stamp, message

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.synthesizer: Synthesizer | None = None
        self.info: ModelInfo | None = None
        self._stamp = 0
        self._current: dict[str, int] = {}  # channel -> stamp of its newest request
        self._waiting: set[str] = set()  # channels whose current request is not answered yet
        self._running: _Job | None = None
        self._running_lock = threading.Lock()
        self._busy = False
        self._worker = _Worker(self)
        self._worker.done.connect(self._on_done, Qt.ConnectionType.QueuedConnection)
        self._worker.failed.connect(self._on_failed, Qt.ConnectionType.QueuedConnection)
        self._worker.progress.connect(self._on_progress, Qt.ConnectionType.QueuedConnection)
        self._worker.start()

    # ----------------------------------------------------------------- requests
    def next_stamp(self) -> int:
        self._stamp += 1
        return self._stamp

    def _open(self, channel: str) -> int:
        """A new request on ``channel``: it becomes the channel's current one."""
        stamp = self.next_stamp()
        self._current[channel] = stamp
        self._waiting.add(channel)
        return stamp

    def current(self, channel: str) -> int:
        """The stamp of the channel's newest request (0: none, or forgotten)."""
        return self._current.get(channel, 0)

    def waiting(self, channel: str) -> bool:
        """Whether the channel's current request has not been answered yet."""
        return channel in self._waiting

    def forget(self, channel: str) -> None:
        """The channel's current request is no longer wanted: its result will not be delivered."""
        self._current[channel] = 0
        self._waiting.discard(channel)

    def _is_current(self, job: _Job) -> bool:
        """Whether ``job`` is its channel's current request; once answered, the channel waits no more."""
        if job.stamp != self._current.get(job.channel):
            return False
        self._waiting.discard(job.channel)
        return True

    def load_model(self, path: str | os.PathLike, device: str = "auto", dtype: str = "auto") -> int:
        stamp = self._open("load")
        payload = {"path": str(path), "device": device, "dtype": dtype}
        self._worker.submit(_Job("load", stamp, "load", payload))
        self._update_busy()
        return stamp

    def generate(
        self, labels: np.ndarray, recipes: list[NoiseRecipe], channel: str = "main", tag: object = None
    ) -> int:
        """Queue a generation of one image per recipe from a copy of ``labels``; returns the request's stamp."""
        stamp = self._open(channel)
        payload = {"labels": np.array(labels, copy=True), "recipes": list(recipes), "tag": tag}
        self._worker.submit(_Job("generate", stamp, channel, payload))
        self._update_busy()
        return stamp

    def inspect_official(self, path: str) -> int:
        """Read and validate an official .pth (no code runs) and find its dataset(s) -> ``inspected`` or
        ``convert_failed``."""
        stamp = self._open("convert")
        self._worker.submit(_Job("inspect", stamp, "convert", {"path": str(path)}))
        self._update_busy()
        return stamp

    def convert_official(self, generator: str, discriminator: str | None, dataset: str, out: str) -> int:
        stamp = self._open("convert")
        payload = {"generator": generator, "discriminator": discriminator, "dataset": dataset, "out": out}
        self._worker.submit(_Job("convert", stamp, "convert", payload))
        self._update_busy()
        return stamp

    def import_photo(self, path: str | os.PathLike, info: ModelInfo, flip: bool = True, scale: float = 1.0) -> int:
        """Read and segment a photo for a canvas of ``info.photo_canvas_size`` (task "segment" -> PhotoImport)."""
        return self._submit_task("segment", {"path": str(path), "info": info, "flip": flip, "scale": scale})

    def segment_image(self, image: np.ndarray, info: ModelInfo, source: str, source_size: tuple[int, int]) -> int:
        """Segment a photo already at its canvas size (a scene's reference layer) with the open model (task
        "segment" -> PhotoImport whose ``path`` is ``source``); it replaces a waiting import."""
        payload = {"image": np.array(image, copy=True), "path": source, "source_size": tuple(source_size)}
        return self._submit_task("segment", {**payload, "info": info, "flip": True})

    def cleanup(self, labels: np.ndarray, confidence: np.ndarray, min_region: int, min_confidence: float) -> int:
        """Clean a segmentation (task "cleanup" -> label map); a newer request replaces a waiting one."""
        payload = {
            "labels": np.array(labels, copy=True),
            "confidence": confidence,
            "min_region": int(min_region),
            "min_confidence": float(min_confidence),
        }
        return self._submit_task("cleanup", payload)

    def realism(self, image: np.ndarray) -> int:
        """The fake-probability map of an image (task "realism" -> (H, W) float32)."""
        return self._submit_task("realism", {"image": np.array(image, copy=True)})

    def worst_regions(self, image: np.ndarray, labels: np.ndarray, k: int, min_area: int, tag: object = None) -> int:
        """The realism map of ``image`` and the ``k`` least realistic regions of ``labels`` (task "worst")."""
        payload = {"image": np.array(image, copy=True), "labels": np.array(labels, copy=True), "k": int(k)}
        payload.update(min_area=int(min_area), tag=tag)
        return self._submit_task("worst", payload)

    def _submit_task(self, kind: str, payload: dict) -> int:
        stamp = self._open(kind)
        self._worker.submit(_Job(kind, stamp, kind, payload))
        self._update_busy()
        return stamp

    def cancel(self) -> None:
        """Drop queued jobs and abandon the running one (its result is discarded)."""
        self._worker.drop_pending(("generate", "load", "convert", "inspect", *TASKS))
        self._worker.cancel_before = self._stamp
        self._waiting.clear()  # nothing asked for so far will be answered
        self._update_busy()

    @property
    def busy(self) -> bool:
        return self._busy

    def shutdown(self, wait_ms: int = 10000) -> None:
        self._worker.stop()
        self._worker.wait(wait_ms)

    # ----------------------------------------------------------------- worker callbacks (GUI thread)
    def _set_running(self, job: _Job | None) -> None:
        with self._running_lock:
            self._running = job

    def _update_busy(self) -> None:
        pending = self._worker.pending() > 0  # read first: a job leaves the queue only once it is running
        with self._running_lock:
            # an abandoned (cancelled) job still finishing its current block does not keep the UI busy
            running = self._running
            busy = pending or (running is not None and running.stamp > self._worker.cancel_before)
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)

    @Slot(object, object)
    def _on_done(self, job: _Job, result: object) -> None:
        cancelled = job.stamp <= self._worker.cancel_before
        if self._is_current(job) and not cancelled:
            if job.kind == "load":
                syn, info, ms = result  # type: ignore[misc]
                self.synthesizer, self.info = syn, info
                self.model_loaded.emit(info, ms)
            elif job.kind == "convert":
                self.converted.emit(result)
            elif job.kind == "inspect":
                self.inspected.emit(*result)  # type: ignore[misc]
            elif job.kind in TASKS:
                self.task_done.emit(job.kind, job.stamp, result)
            else:
                self.generated.emit(result)
        self._update_busy()

    @Slot(object, str)
    def _on_failed(self, job: _Job, message: str) -> None:
        cancelled = message == "cancelled" or job.stamp <= self._worker.cancel_before
        if self._is_current(job) and not cancelled:
            if job.kind == "load":
                self.model_failed.emit(job.payload["path"], message)
            elif job.kind in ("convert", "inspect"):
                self.convert_failed.emit(message)
            elif job.kind in TASKS:
                self.task_failed.emit(job.kind, job.stamp, message)
            else:
                self.generate_failed.emit(job.stamp, message)
        self._update_busy()

    @Slot(object, int, int)
    def _on_progress(self, job: _Job, done: int, total: int) -> None:
        if job.stamp == self._current.get(job.channel):
            self.progress.emit(job.channel, done, total)
