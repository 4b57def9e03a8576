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
