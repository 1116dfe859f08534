import pytest
import torch

from ferkit.classifier.models import create_model, get_spec, list_models
from ferkit.errors import ConfigError


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("num_classes", [3, 7])
def test_forward_backward_shapes(name, num_classes):
    model = create_model(name, num_classes=num_classes)
    size = get_spec(name).input_size
    x = torch.randn(4, 1, size, size, requires_grad=True)
    out = model(x)
    assert out.shape == (4, num_classes)
    out.sum().backward()
    assert x.grad is not None and all(p.grad is not None for p in model.parameters())


def test_registry_lists_the_cpu_and_gpu_variants():
    assert {"alexnet_s", "alexnet_l"} <= set(list_models())


@pytest.mark.parametrize(
    ("name", "classes", "message"), [("vgg99", 7, "unknown classifier"), ("alexnet_s", 1, "2")]
)
def test_bad_requests(name, classes, message):
    with pytest.raises(ConfigError, match=message):
        create_model(name, classes)
