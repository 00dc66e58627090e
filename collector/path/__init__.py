"""Path probing (where a path toward a target ends) and LAN discovery; scapy loads on demand."""
