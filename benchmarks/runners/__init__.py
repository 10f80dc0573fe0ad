"""One runner per experiment task. ``maps`` serves localization and faithfulness (maps are
computed once for both); the others run on their own."""
from benchmarks.runners import maps, sanity, shattering, speed

MAP_TASKS = tuple(maps.MAP_TASKS)
OTHER_TASKS = {"sanity": sanity, "shattered_gradients": shattering, "speed": speed}
TASKS = MAP_TASKS + tuple(OTHER_TASKS)

__all__ = ["maps", "sanity", "shattering", "speed", "MAP_TASKS", "OTHER_TASKS", "TASKS"]
