"""The public Azure regions of 2015, in the order the portal listed them."""

REGIONS = [
    "East US",
    "East US 2",
    "Central US",
    "North Central US",
    "South Central US",
    "West US",
    "North Europe",
    "West Europe",
    "East Asia",
    "Southeast Asia",
    "Japan East",
    "Japan West",
    "Brazil South",
    "Australia East",
    "Australia Southeast",
]
REGION_CHOICES = [(r, r) for r in REGIONS]

# The product's paired regions (2015): a geo-redundant vault keeps its second copy in its region's pair.
# Brazil South's pair is South Central US, whose own pair is North Central US.
_PAIRS = [
    ("East US", "West US"),
    ("East US 2", "Central US"),
    ("North Central US", "South Central US"),
    ("North Europe", "West Europe"),
    ("East Asia", "Southeast Asia"),
    ("Japan East", "Japan West"),
    ("Australia East", "Australia Southeast"),
]
PAIRED_REGIONS = dict(_PAIRS) | {b: a for a, b in _PAIRS} | {"Brazil South": "South Central US"}


def paired_region(region: str) -> str:
    """The region a geo-redundant vault of `region` replicates to."""
    return PAIRED_REGIONS[region]
