"""The personal_data_scan analyser: what personal data one system of the inventory holds, and where."""
