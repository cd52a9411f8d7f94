import torch

from mav_lite.data import ClipStream, ImageStream, ShapesWorld


def test_image_stream_resumes_mid_stream():
    world = ShapesWorld(size=16, seed=0)
    stream = ImageStream(world, batch_size=4)
    it = iter(stream)
    next(it), next(it)
    state = stream.state_dict()
    expected, expected_captions = next(it)
    resumed = ImageStream(world, batch_size=4)
    resumed.load_state_dict(state)
    images, captions = next(iter(resumed))
    assert state == {"position": 8}
    assert torch.equal(images, expected) and captions == expected_captions
    assert torch.equal(images[0], world.image(8)[0])  # batch n holds samples n*B .. n*B+B-1


def test_clip_stream_draws_fps_from_its_range_without_captions():
    world = ShapesWorld(size=16, seed=0)
    stream = ClipStream(world, batch_size=16, frames=3, fps=(2, 6))
    videos, fps = next(iter(stream))
    assert videos.shape == (16, 3, 3, 16, 16) and fps.shape == (16,)
    assert fps.min() >= 2 and fps.max() <= 6 and len(set(fps.tolist())) > 1
    again, fps_again = next(iter(ClipStream(world, batch_size=16, frames=3, fps=(2, 6))))
    assert torch.equal(again, videos) and torch.equal(fps, fps_again)


def test_the_fps_curriculum_starts_high_and_opens_to_the_whole_range():
    world = ShapesWorld(size=8, seed=0)
    stream = ClipStream(world, batch_size=32, frames=2, fps=(1, 30), curriculum=64)
    batches = iter(stream)
    first, second, third = (next(batches)[1] for _ in range(3))
    floors = [stream.fps_floor(i) for i in range(96)]
    assert floors[0] == 30 and floors[32] == 5 and floors[64:] == [1] * 32  # 30 * (1/30)^(i/64)
    assert floors == sorted(floors, reverse=True)
    assert all(f >= floor for f, floor in zip(torch.cat([first, second, third]).tolist(), floors))
    assert first.min() >= 6 and third.min() < 10 and third.max() > 20  # later: anywhere in 1..30
    assert torch.equal(next(iter(ClipStream(world, batch_size=32, frames=2, fps=(1, 30), curriculum=64)))[1], first)
