"""Shell scripts run in a chroot to finish the lab base and to build the CentOS stand-in layer.

They are part of the cache recipes (`rootfs.base_hash()`, `rootfs.centos_hash()`): editing one
rebuilds the cached tree on the next `tk lab up --systemd`.
"""

BASE_SCRIPT = r"""
# Host keys and machine-id are per host (written into each host's overlay).
rm -f /etc/ssh/ssh_host_*
: > /etc/machine-id
mkdir -p /etc/ssh/sshd_config.d
cat > /etc/ssh/sshd_config.d/00-tk-lab.conf <<'EOF'
# tk lab host: key-only root login (first value wins, so this file comes first)
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
PrintMotd no
PrintLastLog no
MaxStartups 200
MaxSessions 100
EOF
systemctl enable ssh.service firewalld.service dbus.service >/dev/null 2>&1 || true
# Units that only make sense on real hardware or need a console.
systemctl mask getty@tty1.service console-getty.service serial-getty@.service \
  systemd-timesyncd.service e2scrub_reap.service apt-daily.timer apt-daily-upgrade.timer \
  >/dev/null 2>&1 || true
# The hosts have no route to a mirror: apt sees only the lab's local repository, if any.
: > /etc/apt/sources.list
rm -f /etc/apt/sources.list.d/*
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log
"""

# Test rpms: name version release where [requires]. "pre" marks stand-ins of what a CentOS
# install already has (rpm -q answers like on CentOS); tk-test-up 1.0 is installed, 1.1 is in
# the repository (for state=latest); tk-test-dep pulls tk-test-a in (dependencies).
RPMS = r"""
python3 3.9.18 1 pre
openssh-server 8.7p1 38 pre
firewalld 1.3.4 1 pre
systemd 252 32 pre
dbus 1.12.20 8 pre
tk-test-up 1.0 1 pre
tk-test-up 1.1 1 repo
tk-test-a 1.0 1 repo
tk-test-b 2.3 1 repo
tk-test-dep 0.1 1 repo tk-test-a
crun 1.14.4 1 repo
runc 1.1.12 1 repo
iptables-nft 1.8.10 2 repo
nftables 1.0.9 1 repo
container-selinux 2.229.0 1 repo
"""

CENTOS_SCRIPT = (
    r"""
printf 'deb %s %s main\n' "$MIRROR" "$SUITE" > /etc/apt/sources.list
cp /run/resolv.conf.build /etc/resolv.conf
n=0
until apt-get -o Acquire::Retries=3 update -qq && \
      apt-get install -y -qq --no-install-recommends $PACKAGES >/tmp/apt.log 2>&1; do
  n=$((n+1)); if [ $n -ge 3 ]; then tail -5 /tmp/apt.log >&2; exit 1; fi; sleep 5
done
: > /etc/apt/sources.list
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin

# Identify as CentOS Stream 9.
rm -f /etc/os-release /etc/debian_version
cat > /usr/lib/os-release <<'EOF'
NAME="CentOS Stream"
VERSION="9"
ID="centos"
ID_LIKE="rhel fedora"
VERSION_ID="9"
PLATFORM_ID="platform:el9"
PRETTY_NAME="CentOS Stream 9"
ANSI_COLOR="0;31"
LOGO="fedora-logo-icon"
CPE_NAME="cpe:/o:centos:centos:9"
HOME_URL="https://centos.org/"
BUG_REPORT_URL="https://issues.redhat.com/"
REDHAT_SUPPORT_PRODUCT="Red Hat Enterprise Linux 9"
REDHAT_SUPPORT_PRODUCT_VERSION="CentOS Stream"
EOF
ln -sf ../usr/lib/os-release /etc/os-release
echo 'CentOS Stream release 9' > /etc/centos-release
ln -sf centos-release /etc/redhat-release
ln -sf centos-release /etc/system-release
mkdir -p /etc/sysconfig
echo '# Created by anaconda' > /etc/sysconfig/network
mkdir -p /etc/selinux/targeted/policy
cat > /etc/selinux/config <<'EOF'
# This file controls the state of SELinux on the system.
# SELINUX= can take one of these three values:
#     enforcing - SELinux security policy is enforced.
#     permissive - SELinux prints warnings instead of enforcing.
#     disabled - No SELinux policy is loaded.
SELINUX=enforcing
# SELINUXTYPE= can take one of these three values:
#     targeted - Targeted processes are protected,
#     minimum - Modification of targeted policy. Only selected processes are protected.
#     mls - Multi Level Security protection.
SELINUXTYPE=targeted
EOF

# A real sshd.service (CentOS's name) instead of Debian's ssh.service.
systemctl disable ssh.service >/dev/null 2>&1 || true
rm -f /etc/systemd/system/sshd.service
sed -e 's/^Alias=.*//' -e 's/^Description=.*/Description=OpenSSH server daemon/' \
  /usr/lib/systemd/system/ssh.service > /usr/lib/systemd/system/sshd.service
systemctl mask ssh.service >/dev/null 2>&1
systemctl enable sshd.service >/dev/null 2>&1

# dnf: the local repository only, releasever 9.
mkdir -p /etc/dnf/vars /etc/yum.repos.d
echo 9 > /etc/dnf/vars/releasever
cat > /etc/dnf/dnf.conf <<'EOF'
[main]
gpgcheck=0
installonly_limit=3
clean_requirements_on_remove=True
best=True
skip_if_unavailable=False
EOF
cat > /etc/yum.repos.d/tk-lab.repo <<'EOF'
[tk-lab]
name=tk lab local repository
baseurl=file:///var/lib/tk-lab/repo
enabled=1
gpgcheck=0
metadata_expire=-1
EOF

# Build the test rpms and the repository.
mkdir -p /var/lib/tk-lab/repo /var/lib/tk-lab/pre /tmp/rpm/SPECS
echo "$RPMS" | while read name version release where requires; do
  [ -n "$name" ] || continue
  spec=/tmp/rpm/SPECS/$name-$version.spec
  req=""; [ -z "$requires" ] || req="Requires: $requires"
  cat > "$spec" <<EOF
%global debug_package %{nil}
%global __os_install_post %{nil}
Name: $name
Version: $version
Release: $release.el9
Summary: tk lab test package $name
License: MIT
BuildArch: noarch
$req
%description
Stand-in package $name for tk lab hosts.
%install
mkdir -p %{buildroot}/usr/share/tk-lab/rpms
echo "$name $version-$release" > %{buildroot}/usr/share/tk-lab/rpms/$name
%files
/usr/share/tk-lab/rpms/$name
EOF
  rpmbuild -bb --quiet --define "_topdir /tmp/rpm" "$spec" >/tmp/rpmbuild.log 2>&1 || {
    cat /tmp/rpmbuild.log >&2; exit 1; }
  file=/tmp/rpm/RPMS/noarch/$name-$version-$release.el9.noarch.rpm
  dest=/var/lib/tk-lab/repo; [ "$where" = pre ] && dest=/var/lib/tk-lab/pre
  mv "$file" "$dest/"
done
rpm -i --nodeps /var/lib/tk-lab/pre/*.rpm
createrepo_c -q /var/lib/tk-lab/repo
rm -rf /tmp/rpm
"""
).replace('"$RPMS"', "'" + RPMS.strip() + "'")


# Test debs: name version [pre]. "pre" is installed in the layer; the others form a flat
# local repository (`deb [trusted=yes] file:/var/lib/tk-lab/debs ./`) whose lists are fetched.
DEBS = r"""
tk-test-up 1.0 pre
tk-test-up 1.1
tk-test-a 1.0
tk-test-b 2.3
"""

DEBIAN_SCRIPT = (
    r"""
mkdir -p /var/lib/tk-lab/debs /var/lib/tk-lab/pre /tmp/deb
echo "$DEBS" | while read name version where; do
  [ -n "$name" ] || continue
  root=/tmp/deb/$name-$version
  mkdir -p "$root/DEBIAN" "$root/usr/share/tk-lab/debs"
  echo "$name $version" > "$root/usr/share/tk-lab/debs/$name"
  printf 'Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: tk lab <root@localhost>\n' \
    "$name" "$version" > "$root/DEBIAN/control"
  printf 'Section: misc\nPriority: optional\nDescription: tk lab test package %s\n' \
    "$name" >> "$root/DEBIAN/control"
  dest=/var/lib/tk-lab/debs; [ "$where" = pre ] && dest=/var/lib/tk-lab/pre
  dpkg-deb --root-owner-group --build "$root" "$dest/${name}_${version}_all.deb" >/dev/null
done
dpkg -i /var/lib/tk-lab/pre/*.deb >/dev/null
cd /var/lib/tk-lab/debs
for f in *.deb; do
  dpkg-deb -f "$f"
  echo "Filename: ./$f"
  echo "Size: $(stat -c %s "$f")"
  echo "SHA256: $(sha256sum "$f" | cut -d' ' -f1)"
  echo
done > Packages
{ echo "Origin: tk-lab"; echo "Label: tk-lab"; echo "Suite: tk-lab"; echo "Codename: tk-lab"
  echo "Date: $(date -R -u)"; echo "SHA256:"
  echo " $(sha256sum Packages | cut -d' ' -f1) $(stat -c %s Packages) Packages"; } > Release
echo 'deb [trusted=yes] file:/var/lib/tk-lab/debs ./' > /etc/apt/sources.list
apt-get update -qq
rm -rf /tmp/deb
"""
).replace('"$DEBS"', "'" + DEBS.strip() + "'")
