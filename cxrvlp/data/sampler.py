"""A resumable, distributed, seeded sampler: the data position of a checkpoint is ``(epoch, start)``."""

from __future__ import annotations

from collections.abc import Iterator

from torch.utils.data import Dataset, DistributedSampler


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The augmentation seed of sample ``index`` in ``epoch`` (a 63-bit mix of the three integers)."""
    x = (seed * 0x9E3779B97F4A7C15 + epoch * 0xBF58476D1CE4E5B9 + index * 0x94D049BB133111EB) % (1 << 64)
    x ^= x >> 31
    return x % (1 << 63)


class ResumableSampler(DistributedSampler):
    """``DistributedSampler`` that yields ``(index, sample_seed)`` and can start mid-epoch.

    The permutation of epoch ``e`` is torch's ``randperm`` seeded with ``seed + e`` (as DistributedSampler), split
    across ``num_replicas`` ranks; :meth:`set_epoch` with ``start=k`` skips this rank's first ``k`` samples, which is
    how a resumed run continues from the exact batch it stopped at.

    Args:
        dataset: the dataset (only its length is used).
        num_replicas: world size. rank: this process's rank.
        shuffle: permute each epoch. seed: permutation and augmentation seed. drop_last: drop the uneven tail.
    """

    def __init__(
        self,
        dataset: Dataset,
        *,
        num_replicas: int = 1,
        rank: int = 0,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = True,
    ) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=drop_last)
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select epoch ``epoch``'s permutation and skip this rank's first ``start`` samples of it."""
        super().set_epoch(epoch)
        if not 0 <= start <= self.num_samples:
            raise ValueError(f"start {start} outside this epoch's {self.num_samples} samples")
        self.start = start

    def __iter__(self) -> Iterator[tuple[int, int]]:  # type: ignore[override]
        indices = list(super().__iter__())[self.start :]
        return iter([(i, sample_seed(self.seed, self.epoch, i)) for i in indices])

    def __len__(self) -> int:
        return self.num_samples - self.start
