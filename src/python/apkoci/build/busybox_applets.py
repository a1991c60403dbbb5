"""The busybox applet links apko makes when a busybox package ships no list of its own.

This is the ``default`` entry of apko's generated table (``pkg/build/busybox_versions.go``), which
apko takes from ``busybox --list-full`` of busybox 1.36.0 built with every applet enabled, and
uses for any version it has no list for. apko keeps lists for older versions too (1.32 to 1.35);
apkoci keeps only this one: an applet the installed busybox lacks just gives a link that prints
``applet not found``, as it does in apko's images. Paths are grouped by folder, names sorted.
"""

from __future__ import annotations

from typing import Tuple

_APPLETS_BY_FOLDER = {
    "bin": """
        arch ash base32 base64 bash bbconfig busybox cat chattr chgrp chmod chown conspy cp cpio
        cttyhack date dd df dmesg dnsdomainname dumpkmap echo ed egrep false fatattr fdflush fgrep
        fsync getopt grep gunzip gzip hostname hush ionice iostat ipcalc kbd_mode kill link linux32
        linux64 ln login ls lsattr lzop makemime minips mkdir mknod mktemp more mount mountpoint
        mpstat mt mv netstat nice nuke pidof ping ping6 pipe_progress printenv ps pwd reformime
        resume rev rm rmdir rpm run-parts scriptreplay sed setarch setpriv setserial sh sleep stat
        stty su sync tar touch true umount uname uncompress usleep vi watch zcat
    """,
    "root": "linuxrc",
    "sbin": """
        acpid adjtimex arp blkid blockdev bootchartd depmod devfsd devmem fbsplash fdisk findfs
        freeramdisk fsck fsck.minix fstrim getty halt hdparm hwclock ifconfig ifdown ifenslave ifup
        init inotifyd insmod ip ipaddr iplink ipneigh iproute iprule iptunnel klogd loadkmap logread
        losetup lsmod makedevs mdev mkdosfs mke2fs mkfs.ext2 mkfs.minix mkfs.reiser mkfs.vfat mkswap
        modinfo modprobe nameif pivot_root poweroff raidautorun reboot restorecon rmmod route
        run-init runlevel setconsole setfiles slattach start-stop-daemon sulogin swapoff swapon
        switch_root sysctl syslogd tc tunctl tune2fs udhcpc uevent vconfig watchdog zcip
    """,
    "usr/bin": """
        [ [[ ar ascii awk basename bc beep blkdiscard bunzip2 bzcat bzip2 cal chcon chpst chrt chvt
        cksum clear cmp comm crc32 crontab cryptpw cut dc deallocvt diff dirname dos2unix dpkg
        dpkg-deb du dumpleases eject env envdir envuidgid expand expr factor fallocate fgconsole
        find flock fold free ftpget ftpput fuser groups hd head hexdump hexedit hostid id install
        ipcrm ipcs killall last less logger logname lpq lpr lsof lspci lsscsi lsusb lzcat lzma
        lzopcat man md5sum mesg microcom mkfifo mkpasswd nc netcat nl nmeter nohup nproc nsenter
        nslookup od openvt passwd paste patch pgrep pkill pmap printf pscan pstree pwdx readlink
        realpath renice reset resize rpm2cpio runcon runsv runsvdir rx script seq setfattr
        setkeycodes setsid setuidgid sha1sum sha256sum sha3sum sha512sum showkey shred shuf smemcap
        softlimit sort split ssl_client strings sum sv svc svok tac tail taskset tcpsvd tee telnet
        test tftp time timeout top tr traceroute traceroute6 tree truncate ts tsort tty ttysize
        udhcpc6 udpsvd unexpand uniq unit unix2dos unlink unlzma unlzop unshare unxz unzip uptime
        users uudecode uuencode vlock volname w wall wc wget which who whoami whois xargs xxd xz
        xzcat yes
    """,
    "usr/sbin": """
        add-shell addgroup adduser arping brctl chat chpasswd chroot crond delgroup deluser
        dhcprelay dnsd ether-wake fakeidentd fbset fdformat flash_eraseall flash_lock flash_unlock
        flashcp fsfreeze ftpd getenforce getsebool httpd i2cdetect i2cdump i2cget i2cset i2ctransfer
        ifplugd inetd killall5 load_policy loadfont lpd matchpathcon mim nanddump nandwrite
        nbd-client nologin ntpd partprobe popmaildir powertop rdate rdev readahead readprofile
        remove-shell rfkill rtcwake seedrng selinuxenabled sendmail sestatus setenforce setfont
        setlogcons setsebool svlogd telnetd tftpd ubiattach ubidetach ubimkvol ubirename ubirmvol
        ubirsvol ubiupdatevol udhcpd
    """,
}

DEFAULT_APPLET_LINKS: Tuple[str, ...] = tuple(
    f"/{folder}/{name}" for folder, names in _APPLETS_BY_FOLDER.items() for name in names.split()
)
