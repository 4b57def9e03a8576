"""The vms app's views, one module per page family (inventory, registered, protected, policies...)."""
