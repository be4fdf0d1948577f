"""What the built-in simulator starts with: hello-chain and summarizer, and a catalogue of instance types."""

from __future__ import annotations

from bot.baseten.models import InstanceType


def _cpu(cpu: int, mem_gib: int) -> InstanceType:
    return InstanceType(
        id=f"{cpu}x{mem_gib}",
        name=f"{cpu}x{mem_gib} ({cpu} vCPU, {mem_gib} GiB)",
        memory_limit_mib=mem_gib * 1024,
        millicpu_limit=cpu * 1000,
        gpu_count=0,
        gpu_type=None,
        gpu_memory_limit_mib=None,
    )


def _gpu(gpu: str, count: int, cpu: int, mem_gib: int, gpu_mem_gib: int, type_id: str) -> InstanceType:
    return InstanceType(
        id=type_id,
        name=f"{gpu} {gpu_mem_gib}GiB ({count}x, {cpu} vCPU, {mem_gib} GiB)",
        memory_limit_mib=mem_gib * 1024,
        millicpu_limit=cpu * 1000,
        gpu_count=count,
        gpu_type=gpu,
        gpu_memory_limit_mib=gpu_mem_gib * 1024,
    )


INSTANCE_TYPES: list[InstanceType] = [
    _cpu(1, 2),
    _cpu(1, 4),
    _cpu(2, 8),
    _cpu(4, 16),
    _cpu(8, 32),
    _gpu("T4", 1, 4, 16, 16, "T4:4x16"),
    _gpu("L4", 1, 4, 16, 24, "L4:4x16"),
    _gpu("A10G", 1, 8, 32, 24, "A10G:8x32"),
    _gpu("A10G", 2, 24, 96, 24, "A10G:2x24x96"),
    _gpu("H100", 2, 52, 468, 80, "H100:2x52x468"),
]

# USD per minute, like Baseten's price list. H100 is deliberately missing: "price unknown" must be said.
PRICES: dict[str, float] = {
    "1x2": 0.00058,
    "1x4": 0.00080,
    "2x8": 0.00160,
    "4x16": 0.00320,
    "8x32": 0.00640,
    "T4:4x16": 0.01052,
    "L4:4x16": 0.01414,
    "A10G:8x32": 0.02012,
    "A10G:2x24x96": 0.04024,
}
